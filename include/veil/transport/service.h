// The server side of a party: operation handlers, dispatched one request at a time per caller.
// A party process (worker, enclave) builds a Service, installs its design's handlers, and serves
// it over gRPC (serve.h) or to in-process endpoints (in_process.h). The service records every
// message it receives and sends in its audit tap, so what an untrusted party saw can be checked
// byte for byte.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "veil/transport/audit_tap.h"
#include "veil/transport/message.h"

namespace veil::transport {

using Handler = std::function<Message(const Message& request)>;

class Service {
 public:
  // `party` names this party in the audit tap ("worker-0", "enclave", ...).
  explicit Service(std::string party);

  // Installs the handler for `op`. Throws std::logic_error when `op` already has one.
  void on(const std::string& op, Handler handler);
  [[nodiscard]] bool handles(const std::string& op) const;
  [[nodiscard]] std::vector<std::string> ops() const;

  // Runs the handler for request.op. A request_id seen before returns the stored reply without
  // running the handler again (retries are applied once). Handler exceptions become
  // TransportError: ProtocolError/std::invalid_argument → kInvalidArgument, anything else →
  // kInternal; an unknown op → kInvalidArgument.
  [[nodiscard]] Message dispatch(const Message& request);

  void set_tap(std::shared_ptr<AuditTap> tap);
  [[nodiscard]] std::shared_ptr<AuditTap> tap() const;
  [[nodiscard]] const std::string& party() const { return party_; }

 private:
  std::string party_;
  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::shared_ptr<AuditTap> tap_;
  std::map<std::string, Message> replies_;  // by request id, bounded (oldest dropped)
  std::vector<std::string> reply_order_;
};

}  // namespace veil::transport
