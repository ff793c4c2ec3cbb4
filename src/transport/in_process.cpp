// The in-process endpoint: by default every call is encoded and decoded by the wire codec exactly
// as across the network (so both sides own their copies, bad messages fail the same way, and the
// byte counts are the wire's); only the socket is missing. Handover::kShared skips the decode copy.
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

// Encodes `m` as the wire would (and, for kWire, decodes it); returns what the other side sees.
Message through_wire(Message m, std::size_t& wire_bytes, const std::string& peer, Handover handover) {
  try {
    if (handover == Handover::kShared)
      for (auto& [name, t] : m.tensors)
        if (t.defined() && !t.is_contiguous()) t = t.contiguous();
    auto encoded = codec::encode(m);  // spans over the tensors' data: no copy
    wire_bytes = encoded.wire_bytes();
    if (handover == Handover::kShared) return m;
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
  InProcessEndpoint(std::shared_ptr<Service> service, Peer caller, Handover handover)
      : service_(std::move(service)), caller_(std::move(caller)), handover_(handover) {}

  Message call(Message request) override {
    if (request.request_id.empty()) request.request_id = "ip-" + std::to_string(next_request_id().fetch_add(1));
    try {
      service_->authorize(request.op, caller_);  // before the body crosses, as over the network
    } catch (const TransportError& e) {
      throw TransportError(e.code(), peer() + ": " + request.op + ": " + to_string(e.code()) + ": " + e.what());
    }
    std::size_t sent = 0, received = 0;
    Message delivered = through_wire(std::move(request), sent, peer(), handover_);
    {
      std::lock_guard lock(mu_);
      stats_.calls += 1;
      stats_.bytes_sent += sent;
    }
    Message reply = through_wire(service_->dispatch(delivered, caller_), received, peer(), handover_);
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
  Peer caller_;
  Handover handover_;
  mutable std::mutex mu_;
  TrafficStats stats_;
};

}  // namespace

std::shared_ptr<Endpoint> connect_in_process(std::shared_ptr<Service> service, Peer caller, Handover handover) {
  return std::make_shared<InProcessEndpoint>(std::move(service), std::move(caller), handover);
}

}  // namespace veil::transport
