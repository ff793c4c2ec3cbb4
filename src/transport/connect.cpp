// Placeholder until the gRPC transport lands (src/transport/grpc/): remote parties are refused
// with a clear message; in-process workers work.
#include "veil/transport/connect.h"

#include <stdexcept>

namespace veil::transport {

std::shared_ptr<Endpoint> connect(const std::string& address, const ConnectOptions&) {
  throw std::invalid_argument("cannot connect to " + address + ": this build has no network transport yet");
}

}  // namespace veil::transport
