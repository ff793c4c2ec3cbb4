// libFuzzer target for the TLS stream's framing (src/transport/stream/frame.h): what a stream
// listener (and a client, for replies) runs on bytes from its peer.
//
// Properties checked on every input:
//   - the prefix parses or throws ProtocolError; the message after it is read (tensor bytes
//     straight into place, blobs through the staging buffer) or ProtocolError is thrown, or the
//     input runs out (the connection would have closed) — anything else is a bug;
//   - an accepted message never exceeds the limits, and its payload is what the prefix declared;
//   - the same header and payload fed to the decoder as 13-byte chunks give the same message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "transport/stream/frame.h"

namespace {

using namespace veil::transport;

struct EndOfInput {};

codec::CodecLimits limits() {
  codec::CodecLimits l;
  l.max_message_bytes = 1 << 20;  // keep allocations small under the fuzzer's RSS limit
  l.max_header_bytes = 1 << 16;
  l.max_entries = 256;
  return l;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "stream_frame: %s\n", what);
  std::abort();
}

bool same(const codec::WirePayload& a, const codec::WirePayload& b) {
  if (a.header.payload_bytes != b.header.payload_bytes || a.blob_data != b.blob_data) return false;
  if (a.header.tensors.size() != b.header.tensors.size()) return false;
  for (std::size_t i = 0; i < a.header.tensors.size(); ++i) {
    const std::size_t n = a.header.tensors[i].bytes;
    if (n != b.header.tensors[i].bytes) return false;
    if (n > 0 && std::memcmp(a.tensor_data[i].get(), b.tensor_data[i].get(), n) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() < stream::kPrefixBytes) return 0;
  std::string_view rest = in.substr(stream::kPrefixBytes);
  const auto read = [&](char* dst, std::size_t n) {
    if (n > rest.size()) throw EndOfInput{};
    std::memcpy(dst, rest.data(), n);
    rest.remove_prefix(n);
  };
  try {
    const stream::Prefix p = stream::parse_prefix(in.substr(0, stream::kPrefixBytes), limits());
    if (p.kind == stream::Kind::kError) {
      if (stream::read_error_text(p, read).size() > stream::kMaxErrorTextBytes) fail("error text over the limit");
      return 0;
    }
    codec::WireDecoder d(limits());
    const std::string_view body = rest;
    stream::read_message(p, read, d);
    const codec::WirePayload m = d.finish();
    if (m.header.payload_bytes != p.payload_bytes) fail("payload size differs from the prefix's");
    if (m.header.payload_bytes > limits().max_message_bytes) fail("accepted a payload over the limit");
    // The same bytes through chunk(): header, then the payload in 13-byte pieces.
    codec::WireDecoder c(limits());
    (void)c.header(body.substr(0, p.header_bytes));
    std::string_view payload = body.substr(p.header_bytes, p.payload_bytes);
    while (!payload.empty()) {
      c.chunk(payload.substr(0, 13));
      payload.remove_prefix(std::min<std::size_t>(13, payload.size()));
    }
    if (!same(m, c.finish())) fail("reading into place and chunking disagree");
  } catch (const ProtocolError&) {
  } catch (const EndOfInput&) {
  }
  return 0;
}
