#include "transport/stream/frame.h"

#include <cstring>

namespace veil::transport::stream {
namespace {

constexpr char kMagic[4] = {'V', 'L', 'S', '1'};
constexpr int kLastCode = static_cast<int>(ErrorCode::kPermissionDenied);

void put_le(char* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_le(const char* in, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

}  // namespace

std::string encode_prefix(const Prefix& p) {
  std::string out(kPrefixBytes, '\0');
  std::memcpy(out.data(), kMagic, 4);
  out[4] = static_cast<char>(p.kind);
  if (p.kind == Kind::kError) out[5] = static_cast<char>(static_cast<int>(p.code) + 1);
  put_le(out.data() + 8, p.header_bytes, 4);
  put_le(out.data() + 12, p.payload_bytes, 8);
  return out;
}

Prefix parse_prefix(std::string_view b, const codec::CodecLimits& limits) {
  if (b.size() != kPrefixBytes) throw ProtocolError("stream frame: prefix of " + std::to_string(b.size()) + " bytes");
  if (std::memcmp(b.data(), kMagic, 4) != 0)
    throw ProtocolError("stream frame: bad magic " + codec::printable(b.substr(0, 4)) + " (not a Veil stream peer?)");
  Prefix p;
  const char kind = b[4];
  if (kind != 'Q' && kind != 'R' && kind != 'E') throw ProtocolError("stream frame: unknown kind " + codec::printable(b.substr(4, 1)));
  p.kind = static_cast<Kind>(kind);
  const int code = static_cast<unsigned char>(b[5]);
  if (p.kind == Kind::kError) {
    if (code < 1 || code > kLastCode + 1) throw ProtocolError("stream frame: unknown error code " + std::to_string(code));
    p.code = static_cast<ErrorCode>(code - 1);
  } else if (code != 0) {
    throw ProtocolError("stream frame: reserved byte 5 is " + std::to_string(code));
  }
  if (b[6] != 0 || b[7] != 0) throw ProtocolError("stream frame: reserved bytes 6-7 are not zero");
  p.header_bytes = static_cast<std::uint32_t>(get_le(b.data() + 8, 4));
  p.payload_bytes = get_le(b.data() + 12, 8);
  if (p.kind == Kind::kError) {
    if (p.header_bytes > kMaxErrorTextBytes)
      throw codec::MessageTooLarge("stream frame: error text of " + std::to_string(p.header_bytes) + " bytes");
    if (p.payload_bytes != 0) throw ProtocolError("stream frame: an error frame with a payload");
    return p;
  }
  if (p.header_bytes == 0) throw ProtocolError("stream frame: empty header");
  if (p.header_bytes > limits.max_header_bytes)
    throw codec::MessageTooLarge("stream frame: header of " + std::to_string(p.header_bytes) + " bytes (limit " +
                          std::to_string(limits.max_header_bytes) + ")");
  if (p.payload_bytes > limits.max_message_bytes)
    throw codec::MessageTooLarge("stream frame: payload of " + std::to_string(p.payload_bytes) + " bytes (limit " +
                          std::to_string(limits.max_message_bytes) + ")");
  return p;
}

std::string error_frame(ErrorCode code, std::string_view text) {
  text = text.substr(0, kMaxErrorTextBytes);
  Prefix p;
  p.kind = Kind::kError;
  p.code = code;
  p.header_bytes = static_cast<std::uint32_t>(text.size());
  std::string out = encode_prefix(p);
  out.append(text);
  return out;
}

}  // namespace veil::transport::stream
