// Connections between processes: gRPC over TLS (mutual TLS: each party presents a certificate
// signed by the CA it was configured with). Implemented in src/transport/grpc/. Calls go over the
// party's TLS stream instead (src/transport/stream/, docs/transport.md "The TLS stream": the same
// messages framed directly on a TLS connection, about three times cheaper per byte) when its
// Health offers one, unless ConnectOptions::stream is false or VEIL_WIRE=grpc is set.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "veil/transport/endpoint.h"

namespace veil::transport {

struct TlsConfig {
  std::filesystem::path cert, key;  // this party's certificate and private key (PEM)
  std::filesystem::path ca;         // the CA that signs the peers this party accepts (PEM)
  bool insecure = false;            // no TLS: allowed only for loopback addresses, with a warning
};

struct ConnectOptions {
  TlsConfig tls;
  std::chrono::milliseconds deadline{std::chrono::minutes(10)};  // per call
  int retries = 3;                     // on kUnavailable, with backoff; the request id stays the same
  bool compress = false;               // gzip on the wire
  std::size_t max_message_bytes = std::size_t{2} << 30;  // largest reply accepted
  // The name the server's certificate must carry; empty: the host of the address. gRPC matches
  // DNS names only, so a worker reached by IP address needs this (or a DNS name / hosts entry).
  std::string tls_server_name;
  // Send calls over the peer's TLS stream when it offers one (same TLS files, same server name);
  // gRPC otherwise. The environment variable VEIL_WIRE=grpc turns it off for every connection.
  bool stream = true;
};

// A client endpoint to the party serving at `address` (host:port). Does not block; the first call
// fails with kUnavailable when the peer is not there. Throws std::invalid_argument for a bad
// address or unreadable TLS files.
[[nodiscard]] std::shared_ptr<Endpoint> connect(const std::string& address, const ConnectOptions& options);

// What a party's Health rpc answers.
struct Health {
  bool serving = false;          // false while it drains for shutdown
  std::string party;             // "worker-0", ...
  std::vector<std::string> ops;  // operations it handles
  int stream_port = 0;           // its TLS stream listener on the same host; 0: none
};
// Asks the party at `address`; throws TransportError (kUnavailable when it is not there, within
// options.deadline) and std::invalid_argument as connect() does.
[[nodiscard]] Health check_health(const std::string& address, const ConnectOptions& options);

}  // namespace veil::transport
