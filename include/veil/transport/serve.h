// Serving a party's Service to other processes over gRPC (proto/veil/v1/party.proto).
//
// Promises:
//   - TLS by default, mutual: the server presents tls.cert/tls.key and accepts only clients whose
//     certificate is signed by tls.ca (others fail the handshake; their calls never reach a
//     handler). tls.insecure is refused unless the listen address is loopback, and then warns
//     loudly on stderr.
//   - Any message size up to max_message_bytes works (the payload streams in 1 MiB chunks); a
//     bigger or malformed request gets RESOURCE_EXHAUSTED / INVALID_ARGUMENT, never a crash. At
//     most max_concurrent_calls requests are decoded at once, so memory per server is bounded by
//     about max_concurrent_calls * max_message_bytes.
//   - shutdown() stops taking calls, lets the calls in flight finish (up to shutdown_grace), and
//     returns; Health answers DRAINING meanwhile.
//   - Unless stream_port is -1, the same service is also served on a TLS stream listener
//     (docs/transport.md "The TLS stream"; the same promises), whose port Health reports.
// Implemented in src/transport/grpc/ and src/transport/stream/; this header stays free of gRPC.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "veil/transport/connect.h"
#include "veil/transport/endpoint.h"
#include "veil/transport/service.h"

namespace veil::transport {

struct ServeOptions {
  std::string address = "127.0.0.1:0";                      // host:port; port 0 picks a free one
  TlsConfig tls;
  std::size_t max_message_bytes = std::size_t{2} << 30;     // per request payload
  int max_concurrent_calls = 8;
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(30)};
  // The TLS stream listener beside the gRPC server (same host, same TLS files; advertised in
  // Health): 0 picks a free port, -1 serves gRPC only.
  int stream_port = 0;
};

class Server {
 public:
  // Listens and serves `service` on background threads. Throws std::invalid_argument for a bad
  // address, an address it cannot bind, unreadable TLS files, or --insecure off loopback.
  [[nodiscard]] static std::unique_ptr<Server> start(std::shared_ptr<Service> service, const ServeOptions& options);
  ~Server();  // shutdown() and wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] int port() const;
  // host:port with the port actually bound (what clients connect to).
  [[nodiscard]] std::string address() const;
  // Idempotent and thread-safe (callable from a signal-handling thread).
  void shutdown();
  // Blocks until shutdown() has completed.
  void wait();
  // The TLS stream listener's port; 0 when there is none.
  [[nodiscard]] int stream_port() const;
  // Requests received (bytes_received) and replies sent (bytes_sent), in encoded bytes, both wires.
  [[nodiscard]] TrafficStats stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether every address `host` resolves to (getaddrinfo, then each read back with inet_pton) is
// loopback: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. "127.0.0.1", "127.1", "::1", "[::1]",
// "::ffff:127.0.0.1" and "localhost" are; "0127.0.0.1" (octal: 87.0.0.1) and an unresolvable
// name are not.
[[nodiscard]] bool is_loopback_host(const std::string& host);
// Splits "host:port" / "[v6]:port"; throws std::invalid_argument naming the address when malformed
// or the port is outside [0, 65535].
struct HostPort {
  std::string host;
  int port = 0;
};
[[nodiscard]] HostPort parse_address(const std::string& address);

}  // namespace veil::transport
