#include "veil/transport/service.h"

#include <stdexcept>

namespace veil::transport {
namespace {
constexpr std::size_t kRememberedReplies = 64;
}

Service::Service(std::string party) : party_(std::move(party)) {}

void Service::on(const std::string& op, Handler handler) {
  std::lock_guard lock(mu_);
  if (!handlers_.emplace(op, std::move(handler)).second)
    throw std::logic_error("service " + party_ + ": op '" + op + "' already has a handler");
}

bool Service::handles(const std::string& op) const {
  std::lock_guard lock(mu_);
  return handlers_.count(op) > 0;
}

std::vector<std::string> Service::ops() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [op, h] : handlers_) out.push_back(op);
  return out;
}

void Service::set_tap(std::shared_ptr<AuditTap> tap) {
  std::lock_guard lock(mu_);
  tap_ = std::move(tap);
}

std::shared_ptr<AuditTap> Service::tap() const {
  std::lock_guard lock(mu_);
  return tap_;
}

Message Service::dispatch(const Message& request) {
  Handler handler;
  std::shared_ptr<AuditTap> tap;
  {
    std::lock_guard lock(mu_);
    tap = tap_;
    if (!request.request_id.empty()) {
      if (auto it = replies_.find(request.request_id); it != replies_.end()) return it->second;
    }
    auto it = handlers_.find(request.op);
    if (it == handlers_.end())
      throw TransportError(ErrorCode::kInvalidArgument, party_ + ": unknown op '" + request.op + "'");
    handler = it->second;
  }
  if (tap) tap->record(party_, Direction::kReceived, request, request.payload_bytes());
  Message reply;
  try {
    reply = handler(request);
  } catch (const TransportError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw TransportError(ErrorCode::kInvalidArgument, party_ + ": " + request.op + ": " + e.what());
  } catch (const std::exception& e) {
    throw TransportError(ErrorCode::kInternal, party_ + ": " + request.op + ": " + e.what());
  }
  reply.op = request.op;
  reply.request_id = request.request_id;
  if (tap) tap->record(party_, Direction::kSent, reply, reply.payload_bytes());
  if (!request.request_id.empty()) {
    std::lock_guard lock(mu_);
    replies_[request.request_id] = reply;
    reply_order_.push_back(request.request_id);
    if (reply_order_.size() > kRememberedReplies) {
      replies_.erase(reply_order_.front());
      reply_order_.erase(reply_order_.begin());
    }
  }
  return reply;
}

}  // namespace veil::transport
