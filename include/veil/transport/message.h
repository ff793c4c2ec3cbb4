// What parties send each other: one call, or its reply, as an operation name, routing fields,
// named tensors and opaque byte strings. Every design speaks in Messages; the transport (gRPC over
// TLS between processes, or in-process for tests) only moves them. proto/veil/v1/ is the wire form.
//
// Operation names are "<design>.<verb>" (e.g. "plain.forward", "he.matmul", "obf.load").
// Tensors are dense CPU tensors of a fixed dtype (f32, f16, bf16, f64, i64, i32, i16, i8, u8,
// bool); blobs carry what is not a tensor (ciphertexts, sealed payloads, attestation reports).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace veil::transport {

struct Message {
  std::string op;                             // operation (request) or echo of it (reply)
  std::string request_id;                     // unique per logical call; a retry reuses it
  std::int32_t layer = -1;                    // the model layer the call is about, -1 for none
  std::vector<std::int32_t> ints;             // small integer arguments (projection ids, ranges)
  std::map<std::string, at::Tensor> tensors;  // named dense tensors
  std::map<std::string, std::string> blobs;   // named opaque bytes
  std::map<std::string, std::string> meta;    // small text fields

  // Bytes of tensor data and blobs (what dominates the wire).
  [[nodiscard]] std::size_t payload_bytes() const;
  // The tensor `name`; throws ProtocolError naming the op and the tensor when it is absent.
  [[nodiscard]] const at::Tensor& tensor(const std::string& name) const;
  [[nodiscard]] const std::string& blob(const std::string& name) const;
};

// Status of a failed call, as gRPC reports it.
enum class ErrorCode {
  kInvalidArgument,   // malformed or inconsistent request (the handler rejected it)
  kUnauthenticated,   // TLS peer not allowed
  kUnavailable,       // peer down or unreachable (retry after it is back)
  kDeadlineExceeded,  // no answer in time
  kResourceExhausted, // message over the size limit
  kFailedPrecondition,// the peer is not in the state the call needs (e.g. weights not loaded)
  kInternal,          // the handler failed
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

// A message that does not have the fields its op needs. Handlers throw it; the service turns it
// into kInvalidArgument.
class ProtocolError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace veil::transport
