// The in-process endpoint: every call is encoded and decoded by the wire codec exactly as across
// the network (so both sides own their copies, bad messages fail the same way, and the byte counts
// are the wire's); only the socket is missing.
#include "veil/transport/in_process.h"

#include <atomic>
#include <mutex>

#include "transport/codec.h"

namespace veil::transport {
namespace {

// Request ids are unique across every in-process endpoint (a service may have several callers).
std::atomic<std::uint64_t>& next_request_id() {
  static std::atomic<std::uint64_t> id{1};
  return id;
}

// Encodes and decodes `m` as the wire would; returns the copy the other side sees.
Message through_wire(const Message& m, std::size_t& wire_bytes, const std::string& peer) {
  try {
    auto encoded = codec::encode(m);
    wire_bytes = encoded.wire_bytes();
    codec::MessageDecoder decoder;
    decoder.header(encoded.header);
    for (auto s : encoded.segments) decoder.chunk(s);
    return decoder.finish();
  } catch (const codec::MessageTooLarge& e) {
    throw TransportError(ErrorCode::kResourceExhausted, peer + ": " + m.op + ": " + e.what());
  } catch (const ProtocolError& e) {
    throw TransportError(ErrorCode::kInvalidArgument, peer + ": " + m.op + ": " + e.what());
  }
}

class InProcessEndpoint final : public Endpoint {
 public:
  explicit InProcessEndpoint(std::shared_ptr<Service> service) : service_(std::move(service)) {}

  Message call(Message request) override {
    if (request.request_id.empty()) request.request_id = "ip-" + std::to_string(next_request_id().fetch_add(1));
    std::size_t sent = 0, received = 0;
    Message delivered = through_wire(request, sent, peer());
    {
      std::lock_guard lock(mu_);
      stats_.calls += 1;
      stats_.bytes_sent += sent;
    }
    Message reply = through_wire(service_->dispatch(delivered), received, peer());
    std::lock_guard lock(mu_);
    stats_.bytes_received += received;
    return reply;
  }
  TrafficStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::string peer() const override { return "in-process:" + service_->party(); }

 private:
  std::shared_ptr<Service> service_;
  mutable std::mutex mu_;
  TrafficStats stats_;
};

}  // namespace

std::shared_ptr<Endpoint> connect_in_process(std::shared_ptr<Service> service) {
  return std::make_shared<InProcessEndpoint>(std::move(service));
}

}  // namespace veil::transport
