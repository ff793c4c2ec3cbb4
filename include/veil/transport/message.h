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
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/transport/errors.h"

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

}  // namespace veil::transport
