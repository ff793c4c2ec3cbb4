// The client side of the TLS stream (docs/transport.md "The TLS stream"): an Endpoint that sends
// each call as a frame on a pooled connection to a party's stream listener. transport::connect()
// switches to it when the party's Health offers a stream port (src/transport/grpc/client.cpp).
#pragma once

#include <memory>
#include <string>

#include "veil/transport/connect.h"
#include "veil/transport/endpoint.h"

namespace veil::transport::stream {

// `address` names the party in errors and peer(); the stream is at host:port; the server's
// certificate must carry `server_name`. Same semantics as the gRPC endpoint: request ids, retries
// of kUnavailable with backoff (the service applies a repeated request once), the per-call
// deadline, errors naming peer, op and code. Throws std::invalid_argument for unreadable TLS files.
[[nodiscard]] std::shared_ptr<Endpoint> make_endpoint(const std::string& address, const std::string& host, int port,
                                                      const std::string& server_name, const ConnectOptions& options);

}  // namespace veil::transport::stream
