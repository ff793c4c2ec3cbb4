// The TLS stream's framing (docs/transport.md "The TLS stream"). On one connection the client
// sends a request frame, the server answers with a reply or an error frame, and so on; one call at
// a time per connection. A frame is
//
//   bytes 0-3    "VLS1"
//   byte  4      kind: 'Q' request, 'R' reply, 'E' error reply
//   byte  5      'E': the error's ErrorCode + 1; otherwise 0
//   bytes 6-7    0
//   bytes 8-11   header bytes, u32 little-endian ('E': bytes of the error text)
//   bytes 12-19  payload bytes, u64 little-endian (0 for 'E')
//
// followed by the serialized veil.v1.Header (or the error text) and the payload, exactly as a
// Call's (proto/veil/v1/party.proto): every tensor's bytes, then every blob's. Torch-free, so the
// fuzzer (fuzz/stream_frame) drives the same reader the transport uses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "transport/wire_format.h"
#include "veil/transport/errors.h"

namespace veil::transport::stream {

inline constexpr std::size_t kPrefixBytes = 20;
inline constexpr std::size_t kMaxErrorTextBytes = std::size_t{64} << 10;

enum class Kind : char { kRequest = 'Q', kReply = 'R', kError = 'E' };

struct Prefix {
  Kind kind = Kind::kRequest;
  ErrorCode code = ErrorCode::kInternal;  // 'E' only
  std::uint32_t header_bytes = 0;
  std::uint64_t payload_bytes = 0;
};

[[nodiscard]] std::string encode_prefix(const Prefix& prefix);

// Throws ProtocolError for a wrong magic, kind, reserved byte or error code, and MessageTooLarge
// for a header or payload over `limits` (an error text over kMaxErrorTextBytes).
[[nodiscard]] Prefix parse_prefix(std::string_view bytes, const codec::CodecLimits& limits);

// The frame of an error reply: prefix and text (cut to kMaxErrorTextBytes).
[[nodiscard]] std::string error_frame(ErrorCode code, std::string_view text);

// Reads the rest of a message frame (header and payload) into `decoder` (a codec::WireDecoder or
// codec::MessageDecoder). `read(char* dst, std::size_t n)` fills exactly n bytes or throws. Tensor
// bytes are read straight into the decoder's tensors; blob bytes go through a staging buffer.
// Throws what the decoder throws, and ProtocolError when the header's payload size is not the
// prefix's.
template <class Read, class Decoder>
void read_message(const Prefix& prefix, Read&& read, Decoder& decoder) {
  if (prefix.kind == Kind::kError) throw ProtocolError("stream frame: an error frame carries no message");
  std::string header(prefix.header_bytes, '\0');
  read(header.data(), header.size());
  decoder.header(header);
  if (decoder.payload_left() != prefix.payload_bytes)
    throw ProtocolError("stream frame: the prefix declares " + std::to_string(prefix.payload_bytes) +
                        " payload bytes, its header " + std::to_string(decoder.payload_left()));
  std::string staging;
  constexpr std::size_t kMaxRead = std::size_t{8} << 20;
  while (decoder.payload_left() > 0) {
    if (auto span = decoder.next_span(kMaxRead); !span.empty()) {
      read(span.data(), span.size());
      decoder.commit(span.size());
      continue;
    }
    staging.resize(std::min(decoder.payload_left(), codec::kChunkBytes));
    read(staging.data(), staging.size());
    decoder.chunk(staging);
  }
}

// The text of an error frame.
template <class Read>
std::string read_error_text(const Prefix& prefix, Read&& read) {
  std::string text(prefix.header_bytes, '\0');
  read(text.data(), text.size());
  return text;
}

}  // namespace veil::transport::stream
