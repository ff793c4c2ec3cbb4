#include "veil/transport/in_process.h"

#include <atomic>
#include <mutex>

#include <ATen/ATen.h>

namespace veil::transport {
namespace {

// Parties never share memory: each side gets its own copy of every tensor.
Message deep_copy(const Message& m) {
  Message c = m;
  for (auto& [name, t] : c.tensors)
    if (t.defined()) t = t.contiguous().clone();
  return c;
}

// Request ids are unique across every in-process endpoint (a service may have several callers).
std::atomic<std::uint64_t>& next_request_id() {
  static std::atomic<std::uint64_t> id{1};
  return id;
}

class InProcessEndpoint final : public Endpoint {
 public:
  explicit InProcessEndpoint(std::shared_ptr<Service> service) : service_(std::move(service)) {}

  Message call(Message request) override {
    if (request.request_id.empty()) request.request_id = "ip-" + std::to_string(next_request_id().fetch_add(1));
    const auto sent = request.payload_bytes();
    Message reply = deep_copy(service_->dispatch(deep_copy(request)));
    std::lock_guard lock(mu_);
    stats_.calls += 1;
    stats_.bytes_sent += sent;
    stats_.bytes_received += reply.payload_bytes();
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
