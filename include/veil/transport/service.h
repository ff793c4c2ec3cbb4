// The server side of a party: operation handlers, dispatched one request at a time per caller.
// Every operation declares the roles that may call it (identity.h); a caller outside them is
// refused with kPermissionDenied before its request's body is read (the transports call
// authorize() once the header has arrived) and again in dispatch().
// A party process (worker, enclave) builds a Service, installs its design's handlers, and serves
// it over gRPC (serve.h) or to in-process endpoints (in_process.h). The service records every
// message it receives and sends in its audit tap, so what an untrusted party saw can be checked
// byte for byte.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "veil/transport/audit_tap.h"
#include "veil/transport/identity.h"
#include "veil/transport/message.h"

namespace veil::transport {

using Handler = std::function<Message(const Message& request)>;

class Service {
 public:
  // `party` names this party in the audit tap ("worker-0", "enclave", ...).
  explicit Service(std::string party);

  // Installs the handler for `op`, callable by peers whose role is in `allowed`. Throws
  // std::logic_error when `op` already has one or `allowed` is empty.
  void on(const std::string& op, Roles allowed, Handler handler);
  [[nodiscard]] bool handles(const std::string& op) const;
  [[nodiscard]] std::vector<std::string> ops() const;

  // Pins the callers: once set non-empty, only a peer whose identity (veil://ROLE/NAME) is in
  // `identities` passes authorize(), for every op, on top of the op's roles; an unauthenticated or
  // identity-less peer never does. Empty (the default) admits any caller of an admitted role.
  // Throws std::invalid_argument for an entry that is not a valid veil identity.
  void allow_only(const std::vector<std::string>& identities);

  // Throws TransportError: kInvalidArgument for an unknown op, kPermissionDenied ("<party>: <op>
  // admits <roles>, not <peer>", or "<party>: <op>: <peer> is not an admitted peer" under
  // allow_only(); clients prefix "<address>: <op>: permission denied: ") when `peer` may not call it.
  void authorize(const std::string& op, const Peer& peer) const;

  // Checks authorize(), then runs the handler for request.op. A request id this peer used before
  // for this op returns the stored reply without running the handler again (retries are applied
  // once); the cache is keyed by (peer identity, op, request id), so one peer never gets another's
  // reply. Handler exceptions become TransportError: ProtocolError/std::invalid_argument →
  // kInvalidArgument, anything else → kInternal.
  [[nodiscard]] Message dispatch(const Message& request, const Peer& peer);

  // The reply cache's bounds: at most `entries` replies and `bytes` payload bytes (oldest dropped
  // first). A reply over `bytes` is not remembered (a retry runs its handler again). Defaults: 64
  // replies, 256 MiB.
  void set_reply_cache_limits(std::size_t entries, std::size_t bytes);

  void set_tap(std::shared_ptr<AuditTap> tap);
  [[nodiscard]] std::shared_ptr<AuditTap> tap() const;
  [[nodiscard]] const std::string& party() const { return party_; }

 private:
  struct Entry {
    Handler handler;
    Roles allowed;
  };
  std::string party_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> handlers_;
  std::vector<std::string> allowed_peers_;  // identity URIs (allow_only); empty = any
  std::shared_ptr<AuditTap> tap_;
  // The reply cache: by (peer key, op, request id), bounded in count and bytes (oldest dropped).
  std::map<std::string, Message> replies_;
  std::deque<std::pair<std::string, std::size_t>> reply_order_;  // key, payload bytes
  std::size_t reply_bytes_ = 0;
  std::size_t max_replies_ = 64;
  std::size_t max_reply_bytes_ = std::size_t{256} << 20;
};

}  // namespace veil::transport
