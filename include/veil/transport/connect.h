// Connections between processes: gRPC over TLS (mutual TLS: each party presents a certificate
// signed by the CA it was configured with). Implemented in src/transport/grpc/.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

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
};

// A client endpoint to the party serving at `address` (host:port). Does not block; the first call
// fails with kUnavailable when the peer is not there. Throws std::invalid_argument for a bad
// address or unreadable TLS files.
[[nodiscard]] std::shared_ptr<Endpoint> connect(const std::string& address, const ConnectOptions& options);

}  // namespace veil::transport
