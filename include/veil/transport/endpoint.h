// The client side of a connection to another party. Designs hold Endpoints and call them; whether
// the peer is in this process or across the network is the transport's business.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "veil/transport/message.h"

namespace veil::transport {

// Traffic through one endpoint, as seen by this party.
struct TrafficStats {
  std::uint64_t calls = 0;
  std::uint64_t bytes_sent = 0;      // request bytes on the wire (encoded messages)
  std::uint64_t bytes_received = 0;  // reply bytes on the wire
  TrafficStats& operator+=(const TrafficStats& o) {
    calls += o.calls;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    return *this;
  }
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Sends a request and waits for the reply. Fills request.request_id when empty. Throws
  // TransportError. Safe to call from several threads at once.
  [[nodiscard]] virtual Message call(Message request) = 0;
  [[nodiscard]] virtual TrafficStats stats() const = 0;
  // "in-process:<name>" or "host:port".
  [[nodiscard]] virtual std::string peer() const = 0;
};

}  // namespace veil::transport
