// Message <-> wire form (proto/veil/v1/party.proto), with strict validation of what comes in.
//
// Both transports use this codec, so in-process and network calls take the same path and count the
// same bytes. A message on the wire is a serialized veil.v1.Header followed by its payload (tensor
// data, then blobs). Decoding checks, before allocating anything: the version, the dtypes, that
// shapes are non-negative with rank <= 16, that names are unique, that numel * element size of
// every tensor and the blob sizes add up to payload_bytes, and that the total is under
// CodecLimits::max_message_bytes. Errors are ProtocolError (malformed) or MessageTooLarge (over a
// limit), naming what is wrong; nothing else escapes, whatever the bytes.
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

#include "veil/transport/message.h"

namespace veil::transport::codec {

inline constexpr std::uint32_t kWireVersion = 1;
inline constexpr std::size_t kChunkBytes = std::size_t{1} << 20;  // payload bytes per Chunk frame

struct CodecLimits {
  std::size_t max_message_bytes = std::size_t{2} << 30;  // payload (tensors + blobs)
  std::size_t max_header_bytes = std::size_t{3} << 20;   // serialized Header (fits gRPC's 4 MB frame)
  std::size_t max_entries = 4096;                        // tensors + blobs + meta entries
};

// Over a size limit (the transport answers RESOURCE_EXHAUSTED / kResourceExhausted).
class MessageTooLarge : public ProtocolError {
 public:
  using ProtocolError::ProtocolError;
};

// A message ready to be sent: its serialized header and its payload as pieces that point into the
// message's blobs and into `keep` (contiguous CPU copies or views of its tensors). The message
// passed to encode() must outlive the EncodedMessage.
struct EncodedMessage {
  std::string header;
  std::vector<at::Tensor> keep;
  std::vector<std::string_view> segments;
  std::size_t payload_bytes = 0;
  [[nodiscard]] std::size_t wire_bytes() const { return header.size() + payload_bytes; }
};

// Throws ProtocolError for a tensor the wire cannot carry (dtype, layout) or a header over the
// limit. Undefined tensors are left out (Message::tensor treats them as absent).
[[nodiscard]] EncodedMessage encode(const Message& message, const CodecLimits& limits = {});

// Reassembles one message from its header and payload chunks.
class MessageDecoder {
 public:
  explicit MessageDecoder(CodecLimits limits = {});
  // Parses and validates the serialized Header and allocates the declared tensors. Once only.
  void header(std::string_view serialized);
  // Appends payload bytes. Throws ProtocolError when they run past payload_bytes.
  void chunk(std::string_view bytes);
  [[nodiscard]] bool has_header() const { return has_header_; }
  [[nodiscard]] bool complete() const { return has_header_ && received_ == expected_; }
  // The message; throws ProtocolError when the header or some payload is missing, or a bool
  // tensor holds a byte other than 0 or 1.
  [[nodiscard]] Message finish();
  [[nodiscard]] std::size_t wire_bytes() const { return header_bytes_ + received_; }

 private:
  struct Target {
    char* data;
    std::size_t size;
  };
  CodecLimits limits_;
  Message message_;
  std::vector<Target> targets_;
  std::size_t target_ = 0, offset_ = 0;
  std::size_t expected_ = 0, received_ = 0, header_bytes_ = 0;
  bool has_header_ = false;
};

// The flat form, for files and fuzzing: "VEIL", header length (u32 little-endian), header, payload.
[[nodiscard]] std::string to_flat(const EncodedMessage& encoded);
[[nodiscard]] std::string encode_flat(const Message& message, const CodecLimits& limits = {});
[[nodiscard]] Message decode_flat(std::string_view bytes, const CodecLimits& limits = {});

// "f32", "bf16", ...; throws ProtocolError for a scalar type the wire cannot carry.
[[nodiscard]] const char* dtype_name(c10::ScalarType type);

}  // namespace veil::transport::codec
