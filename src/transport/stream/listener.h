// The server side of the TLS stream (docs/transport.md "The TLS stream"): a listening socket
// beside a party's gRPC server, serving the same Service, one thread per connection. Started and
// stopped by transport::Server (src/transport/grpc/server.cpp), which advertises its port in Health.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "transport/codec.h"
#include "veil/transport/connect.h"
#include "veil/transport/endpoint.h"
#include "veil/transport/service.h"

namespace veil::transport::stream {

struct ListenOptions {
  std::string host;  // as in the gRPC listen address
  int port = 0;      // 0: a free one
  TlsConfig tls;
  codec::CodecLimits limits;
  int max_concurrent_calls = 8;                    // handled at once (others wait for a slot)
  int max_connections = 64;                        // more are closed at once
  std::chrono::milliseconds io_timeout{std::chrono::minutes(2)};  // within one frame
  // Unauthenticated peers: a TLS handshake must be over within handshake_timeout (all of it, not
  // per read); at most max_handshakes run at once, and from one source address at most
  // max_handshakes_per_address handshakes and max_connections_per_address connections (more are
  // closed at once), so one host cannot take every slot.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  int max_handshakes = 16;
  int max_handshakes_per_address = 4;
  int max_connections_per_address = 32;
};

class Listener {
 public:
  // Binds and starts accepting. Throws std::invalid_argument when it cannot bind.
  [[nodiscard]] static std::unique_ptr<Listener> start(std::shared_ptr<Service> service, ListenOptions options);
  ~Listener();  // stop(0)
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  [[nodiscard]] int port() const;
  // Stops accepting and closes idle connections; a call in flight finishes and its connection then
  // closes. Waits up to `grace` for them, then closes the rest.
  void stop(std::chrono::milliseconds grace);
  [[nodiscard]] TrafficStats stats() const;

  struct Impl;

 private:
  explicit Listener(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace veil::transport::stream
