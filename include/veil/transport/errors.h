// How calls between parties fail: the status codes (as gRPC reports them), TransportError for a
// failed call and ProtocolError for a message that is malformed or lacks what its op needs.
// Torch-free, so the wire-format core (and its fuzzer) can throw them without libtorch headers.
#pragma once

#include <stdexcept>
#include <string>

namespace veil::transport {

// Status of a failed call, as gRPC reports it.
enum class ErrorCode {
  kInvalidArgument,   // malformed or inconsistent request (the handler rejected it)
  kUnauthenticated,   // TLS peer not allowed
  kUnavailable,       // peer down or unreachable (retry after it is back)
  kDeadlineExceeded,  // no answer in time
  kResourceExhausted, // message over the size limit
  kFailedPrecondition,// the peer is not in the state the call needs (e.g. weights not loaded)
  kInternal,          // the handler failed
  kPermissionDenied,  // the caller's identity is not among the roles the op admits (identity.h)
};
[[nodiscard]] const char* to_string(ErrorCode code);

// A call that failed; what() names the peer, the op and the reason.
class TransportError : public std::runtime_error {
 public:
  TransportError(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// A message that does not have the fields its op needs, or bytes that are not a valid message.
// Handlers throw it; the service turns it into kInvalidArgument.
class ProtocolError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace veil::transport
