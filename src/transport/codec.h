// Message <-> wire form (proto/veil/v1/party.proto): the torch side of the codec.
//
// Both transports use this codec, so in-process and network calls take the same path and count the
// same bytes. A message on the wire is a serialized veil.v1.Header followed by its payload (tensor
// data, then blobs). Parsing, validation, limits and payload reassembly are torch-free and live in
// transport/wire_format.h (fuzzed by fuzz/message_decode); this file only maps dtypes and turns
// validated buffers into at::Tensors and back. Errors are ProtocolError (malformed) or
// MessageTooLarge (over a limit), naming what is wrong; nothing else escapes, whatever the bytes.
//
// Memory per message is bounded by max_message_bytes + max_header_bytes: the decoder allocates
// the declared tensors once (untouched pages are not committed) and refuses payload beyond them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "transport/wire_format.h"
#include "veil/transport/message.h"

namespace veil::transport::codec {

// A message ready to be sent: its serialized header and its payload as pieces that point into the
// message's blobs and into `keep` (contiguous CPU copies or views of its tensors). The message
// passed to encode() must outlive the EncodedMessage.
struct EncodedMessage {
  std::string header;
  std::vector<at::Tensor> keep;
  std::vector<std::string_view> segments;
  // Per segment: the index in `keep` of the tensor it lies in, or -1 for a blob (which lives in the
  // message). The gRPC sender hands tensor segments to gRPC without copying, holding a reference.
  std::vector<int> segment_tensor;
  std::size_t payload_bytes = 0;
  [[nodiscard]] std::size_t wire_bytes() const { return header.size() + payload_bytes; }
};

// Throws ProtocolError for a tensor the wire cannot carry (dtype, layout) or a header over the
// limit. Undefined tensors are left out (Message::tensor treats them as absent).
[[nodiscard]] EncodedMessage encode(const Message& message, const CodecLimits& limits = {});
// A temporary message would be destroyed while the EncodedMessage still points into its blobs
// (caught by scripts/asan-ci.sh in a test that did exactly that).
EncodedMessage encode(Message&& message, const CodecLimits& limits = {}) = delete;

// Reassembles one message from its header and payload chunks (a WireDecoder whose tensors are
// at::Tensors allocated by libtorch).
class MessageDecoder {
 public:
  explicit MessageDecoder(CodecLimits limits = {});
  MessageDecoder(const MessageDecoder&) = delete;  // its allocator refers to this object
  MessageDecoder& operator=(const MessageDecoder&) = delete;
  // Parses and validates the serialized Header and allocates the declared tensors. Once only.
  void header(std::string_view serialized);
  // Appends payload bytes. Throws ProtocolError when they run past payload_bytes.
  void chunk(std::string_view bytes) { wire_.chunk(bytes); }
  // Reading payload straight into the tensors (WireDecoder::next_span / commit).
  [[nodiscard]] std::span<char> next_span(std::size_t max) { return wire_.next_span(max); }
  void commit(std::size_t n) { wire_.commit(n); }
  [[nodiscard]] std::size_t payload_left() const { return wire_.payload_left(); }
  [[nodiscard]] bool has_header() const { return wire_.has_header(); }
  // See WireDecoder::set_admit: the permission check between the header and the payload.
  void set_admit(std::function<void(const std::string& op)> admit) { wire_.set_admit(std::move(admit)); }
  [[nodiscard]] bool complete() const { return wire_.complete(); }
  // The message; throws ProtocolError when the header or some payload is missing, or a bool
  // tensor holds a byte other than 0 or 1.
  [[nodiscard]] Message finish();
  [[nodiscard]] std::size_t wire_bytes() const { return wire_.wire_bytes(); }

 private:
  std::vector<at::Tensor> tensors_;
  WireDecoder wire_;
};

// The flat form, for files and fuzzing: "VEIL", header length (u32 little-endian), header, payload.
[[nodiscard]] std::string to_flat(const EncodedMessage& encoded);
[[nodiscard]] std::string encode_flat(const Message& message, const CodecLimits& limits = {});
[[nodiscard]] Message decode_flat(std::string_view bytes, const CodecLimits& limits = {});

// "f32", "bf16", ...; throws ProtocolError for a scalar type the wire cannot carry.
[[nodiscard]] const char* dtype_name(c10::ScalarType type);

}  // namespace veil::transport::codec
