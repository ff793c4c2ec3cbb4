// The wire form of a message (proto/veil/v1/party.proto) without libtorch: parse and validate a
// serialized veil.v1.Header into a plain description (op, routing fields, tensor dtypes and
// shapes, blob sizes), reassemble the payload from chunks into plain buffers, and serialize a
// header deterministically. This is everything a party runs on bytes from the network;
// transport/codec.h turns the result into at::Tensors. The libFuzzer target fuzz/message_decode
// links only this (libtorch's headers do not compile with clang 14 in C++20).
//
// Validation, before anything is allocated: the version, the op (non-empty, <= 256 bytes), known
// dtypes, rank <= 16, non-negative dimensions, names unique and <= 1 KiB, numel * element size of
// every tensor plus the blob sizes == payload_bytes (computed without overflow), the total <=
// CodecLimits::max_message_bytes, and at most max_entries tensors + blobs + meta entries (counted
// on the raw bytes before the header is parsed, so a header of many tiny entries cannot make the
// parser allocate more than a small multiple of max_header_bytes).
//
// Errors are ProtocolError (malformed) or MessageTooLarge (over a limit), naming what is wrong;
// nothing else escapes, whatever the bytes (std::bad_alloc aside, when the machine has less memory
// than the limits allow).
//
// Memory per message: the header (<= max_header_bytes, parsed), plus the declared payload (<=
// max_message_bytes). Blob storage is reserved, not written, when the header arrives, so memory is
// committed only as payload bytes actually arrive; tensors go where the caller's allocator says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "veil/transport/errors.h"

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

// Element types the wire carries; the values are veil.v1.DType's.
enum class DType : std::uint8_t { kF32 = 1, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };
[[nodiscard]] std::size_t element_size(DType dtype);
[[nodiscard]] const char* dtype_name(DType dtype);  // "f32", "bf16", ...

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::size_t bytes = 0;  // numel * element size (filled by parse_header; set it before serializing)
};
struct BlobSpec {
  std::string name;
  std::size_t size = 0;
};

// A message's header: everything but the payload bytes. The payload is every tensor's data in
// this order (row-major, little-endian), then every blob's.
struct WireHeader {
  std::string op;
  std::string request_id;
  std::int32_t layer = -1;
  std::vector<std::int32_t> ints;
  std::vector<TensorSpec> tensors;
  std::vector<BlobSpec> blobs;
  std::vector<std::pair<std::string, std::string>> meta;
  std::size_t payload_bytes = 0;  // sum of tensor bytes and blob sizes
};

// Parses and validates a serialized veil.v1.Header (see the top of this file).
[[nodiscard]] WireHeader parse_header(std::string_view serialized, const CodecLimits& limits = {});
// Serializes deterministically (same header, same bytes). Throws MessageTooLarge when the payload
// or the serialized header is over the limits.
[[nodiscard]] std::string serialize_header(const WireHeader& header, const CodecLimits& limits = {});

// A decoded message in plain buffers.
struct WirePayload {
  WireHeader header;
  // One per tensor in header order, when the decoder allocated them (no Allocate given); null for
  // a tensor of zero bytes. 64-byte aligned.
  std::vector<std::shared_ptr<char>> tensor_data;
  std::vector<std::string> blob_data;  // one per blob, in header order
};

// Reassembles one message from its header and payload chunks.
class WireDecoder {
 public:
  // Where tensor `index` (its spec validated) is to be written: `spec.bytes` writable bytes, or
  // null when spec.bytes is 0. Called once per tensor, in order, after the whole header passed.
  using Allocate = std::function<char*(std::size_t index, const TensorSpec& spec)>;

  explicit WireDecoder(CodecLimits limits = {}, Allocate allocate = nullptr);
  // Called with the op of a header that passed validation, before anything is allocated for its
  // payload; what it throws (the transport's permission check) leaves header() as is.
  void set_admit(std::function<void(const std::string& op)> admit) { admit_ = std::move(admit); }
  // Parses and validates the header, then allocates the declared tensors. Once only.
  const WireHeader& header(std::string_view serialized);
  // Appends payload bytes. Throws ProtocolError when they run past payload_bytes or come before
  // the header.
  void chunk(std::string_view bytes);
  // For a transport that reads payload straight into place: where the next payload bytes go, at
  // most `max` of them, inside the current tensor; empty when the next bytes belong to a blob (give
  // those to chunk()) or the payload is complete. commit(n) records that n bytes were written there.
  [[nodiscard]] std::span<char> next_span(std::size_t max);
  void commit(std::size_t n);
  // Payload bytes still expected (0 before the header).
  [[nodiscard]] std::size_t payload_left() const { return has_header_ ? header_.payload_bytes - received_ : 0; }
  [[nodiscard]] bool has_header() const { return has_header_; }
  [[nodiscard]] bool complete() const { return has_header_ && received_ == header_.payload_bytes; }
  [[nodiscard]] std::size_t wire_bytes() const { return header_bytes_ + received_; }
  // The message; throws ProtocolError when the header or some payload is missing, or a bool
  // tensor holds a byte other than 0 or 1. The decoder is then empty again.
  [[nodiscard]] WirePayload finish();

 private:
  struct Target {
    char* data;         // a tensor's bytes, or
    std::string* blob;  // a blob, appended to
    std::size_t size;
  };
  CodecLimits limits_;
  Allocate allocate_;
  std::function<void(const std::string&)> admit_;
  WireHeader header_;
  WirePayload out_;
  std::vector<char*> tensor_ptrs_;
  std::vector<Target> targets_;
  std::size_t target_ = 0, offset_ = 0, received_ = 0, header_bytes_ = 0;
  bool has_header_ = false;
};

// The flat form, for files and fuzzing: "VEIL", header length (u32 little-endian), header, payload.
struct FlatParts {
  std::string_view header;
  std::string_view payload;
};
// Splits flat bytes; throws ProtocolError when the magic is missing or the header runs past the end.
[[nodiscard]] FlatParts split_flat(std::string_view bytes);
[[nodiscard]] std::string join_flat(std::string_view header, const std::vector<std::string_view>& payload);

// `s` as an error message shows it: quoted, at most 64 bytes, non-printables as '?'.
[[nodiscard]] std::string printable(std::string_view s);

}  // namespace veil::transport::codec
