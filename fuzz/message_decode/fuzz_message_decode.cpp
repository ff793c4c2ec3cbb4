// libFuzzer target for the wire decoding: what every party runs on bytes from the network, before
// any tensor exists (src/transport/wire_format.h; the torch side only wraps the buffers).
//
// Properties checked on every input:
//   - parsing flat bytes either returns a message or throws ProtocolError (anything else, a crash,
//     a sanitizer report, a hang or an allocation over the limit is a bug);
//   - an accepted message never exceeds the limits it was decoded under;
//   - the same bytes fed as a header plus payload in small chunks behave the same way;
//   - an accepted message, serialized again and decoded, gives the same bytes twice (encoding is
//     deterministic and lossless).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "transport/wire_format.h"

namespace {

using namespace veil::transport;

codec::CodecLimits limits() {
  codec::CodecLimits l;
  l.max_message_bytes = 1 << 20;  // keep allocations small under the fuzzer's RSS limit
  l.max_header_bytes = 1 << 16;
  l.max_entries = 256;
  return l;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "message_decode: %s\n", what);
  std::abort();
}

// Decodes flat bytes, feeding the payload in pieces of `step` bytes.
codec::WirePayload decode(std::string_view flat, std::size_t step = ~std::size_t{0}) {
  const auto parts = codec::split_flat(flat);
  codec::WireDecoder d(limits());
  (void)d.header(parts.header);
  std::string_view rest = parts.payload;
  do {
    const std::size_t n = std::min(step, rest.size());
    d.chunk(rest.substr(0, n));
    rest.remove_prefix(n);
  } while (!rest.empty());
  return d.finish();
}

std::string reencode(const codec::WirePayload& p) {
  std::vector<std::string_view> payload;
  for (std::size_t i = 0; i < p.header.tensors.size(); ++i)
    if (p.header.tensors[i].bytes > 0) payload.emplace_back(p.tensor_data[i].get(), p.header.tensors[i].bytes);
  for (const auto& b : p.blob_data) payload.emplace_back(b);
  return codec::join_flat(codec::serialize_header(p.header, limits()), payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bool accepted = false;
  try {
    const codec::WirePayload m = decode(bytes);
    accepted = true;
    if (m.header.payload_bytes > limits().max_message_bytes) fail("accepted a payload over the limit");
    if (m.header.tensors.size() + m.header.blobs.size() + m.header.meta.size() > limits().max_entries)
      fail("accepted more entries than the limit");
    for (std::size_t i = 0; i < m.blob_data.size(); ++i)
      if (m.blob_data[i].size() != m.header.blobs[i].size) fail("a blob of the wrong size");
    const std::string again = reencode(m);
    if (reencode(decode(bytes, 13)) != again) fail("chunk boundaries changed the message");
    const std::string twice = reencode(decode(again));
    if (again != twice) fail("re-encoding is not stable");
  } catch (const ProtocolError&) {
  }
  // Raw frames: the first byte splits the rest into a header and a payload sent in 13-byte chunks.
  if (size > 1) {
    const std::size_t split = std::min<std::size_t>(data[0], size - 1);
    std::string_view rest = bytes.substr(1);
    try {
      codec::WireDecoder d(limits());
      (void)d.header(rest.substr(0, split));
      rest.remove_prefix(split);
      while (!rest.empty()) {
        d.chunk(rest.substr(0, 13));
        rest.remove_prefix(std::min<std::size_t>(13, rest.size()));
      }
      (void)d.finish();
    } catch (const ProtocolError&) {
    }
  }
  (void)accepted;
  return 0;
}
