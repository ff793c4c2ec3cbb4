#include "veil/transport/service.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "transport/wire_format.h"
#include "veil/transport/caller.h"

namespace veil::transport {
namespace {

// The key of the peer whose request this thread's handler is running (caller.h).
thread_local const std::string* t_caller = nullptr;

// Sets t_caller for one handler call, restoring the outer one (a handler may dispatch in-process).
class CallerScope {
 public:
  explicit CallerScope(const std::string& key) : outer_(t_caller) { t_caller = &key; }
  ~CallerScope() { t_caller = outer_; }
  CallerScope(const CallerScope&) = delete;
  CallerScope& operator=(const CallerScope&) = delete;

 private:
  const std::string* outer_;
};

// The reply cache's key: length-prefixed parts, so that no choice of op or request id can make
// two different triples collide.
std::string cache_key(const Peer& peer, const std::string& op, const std::string& request_id) {
  std::string key;
  for (const std::string& part : {peer.key(), op, request_id}) key += std::to_string(part.size()) + ":" + part;
  return key;
}

}  // namespace

std::string caller_key() { return t_caller ? *t_caller : std::string(); }

void check_session_owner(const std::string& what, const std::string& owner) {
  const std::string caller = caller_key();
  if (caller != owner)
    throw TransportError(ErrorCode::kPermissionDenied, what + ": opened by " + (owner.empty() ? "no caller" : owner) +
                                                           ", not by " + (caller.empty() ? "no caller" : caller));
}

Service::Service(std::string party) : party_(std::move(party)) {}

void Service::on(const std::string& op, Roles allowed, Handler handler) {
  if (allowed.empty()) throw std::logic_error("service " + party_ + ": op '" + op + "' admits no role");
  std::lock_guard lock(mu_);
  if (!handlers_.emplace(op, Entry{std::move(handler), allowed}).second)
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

void Service::allow_only(const std::vector<std::string>& identities) {
  std::vector<std::string> uris;
  for (const std::string& id : identities) {
    const std::optional<Peer> peer = peer_from_uri(id);
    if (!peer || peer->kind() != Peer::Kind::kIdentified)
      throw std::invalid_argument("allowed peer '" + id + "' is not a veil identity (veil://ROLE/NAME, ROLE one of " +
                                  all_role_names() + ")");
    uris.push_back(peer->key());
  }
  std::lock_guard lock(mu_);
  allowed_peers_ = std::move(uris);
}

void Service::authorize(const std::string& op, const Peer& peer) const {
  Roles allowed{};
  bool pinned_out = false;
  {
    std::lock_guard lock(mu_);
    auto it = handlers_.find(op);
    if (it == handlers_.end())
      throw TransportError(ErrorCode::kInvalidArgument, party_ + ": unknown op " + codec::printable(op));
    allowed = it->second.allowed;
    pinned_out = !allowed_peers_.empty() &&
                 (peer.kind() != Peer::Kind::kIdentified ||
                  std::find(allowed_peers_.begin(), allowed_peers_.end(), peer.key()) == allowed_peers_.end());
  }
  if (!peer.admitted_by(allowed))
    throw TransportError(ErrorCode::kPermissionDenied,
                         party_ + ": " + op + " admits " + allowed.to_string() + ", not " + peer.to_string());
  if (pinned_out)
    throw TransportError(ErrorCode::kPermissionDenied,
                         party_ + ": " + op + ": " + peer.to_string() + " is not an admitted peer (--allow-peer)");
}

void Service::set_reply_cache_limits(std::size_t entries, std::size_t bytes) {
  std::lock_guard lock(mu_);
  max_replies_ = entries;
  max_reply_bytes_ = bytes;
  while (!reply_order_.empty() && (reply_order_.size() > max_replies_ || reply_bytes_ > max_reply_bytes_)) {
    replies_.erase(reply_order_.front().first);
    reply_bytes_ -= reply_order_.front().second;
    reply_order_.pop_front();
  }
}

void Service::set_tap(std::shared_ptr<AuditTap> tap) {
  std::lock_guard lock(mu_);
  tap_ = std::move(tap);
}

std::shared_ptr<AuditTap> Service::tap() const {
  std::lock_guard lock(mu_);
  return tap_;
}

Message Service::dispatch(const Message& request, const Peer& peer) {
  authorize(request.op, peer);
  Handler handler;
  std::shared_ptr<AuditTap> tap;
  const std::string key = request.request_id.empty() ? std::string() : cache_key(peer, request.op, request.request_id);
  {
    std::lock_guard lock(mu_);
    tap = tap_;
    if (!key.empty()) {
      if (auto it = replies_.find(key); it != replies_.end()) return it->second;
    }
    handler = handlers_.at(request.op).handler;
  }
  if (tap) tap->record(party_, Direction::kReceived, request, request.payload_bytes());
  Message reply;
  try {
    const std::string caller = peer.key();
    CallerScope scope(caller);
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
  if (!key.empty()) {
    // Tensors count their bytes; the reply's small fields are charged a fixed overhead.
    const std::size_t bytes = reply.payload_bytes() + 256;
    std::lock_guard lock(mu_);
    if (bytes <= max_reply_bytes_ && max_replies_ > 0 && replies_.emplace(key, reply).second) {
      reply_order_.emplace_back(key, bytes);
      reply_bytes_ += bytes;
      while (reply_order_.size() > max_replies_ || reply_bytes_ > max_reply_bytes_) {
        replies_.erase(reply_order_.front().first);
        reply_bytes_ -= reply_order_.front().second;
        reply_order_.pop_front();
      }
    }
  }
  return reply;
}

}  // namespace veil::transport
