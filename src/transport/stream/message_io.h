// Writing one encoded message as a stream frame (frame.h) on a Connection: what the stream's client
// and listener share. Internal to the transport.
#pragma once

#include <string>

#include "transport/codec.h"
#include "transport/stream/connection.h"
#include "transport/stream/frame.h"

namespace veil::transport::stream {

// Prefix, header and payload. Small pieces are gathered into one write (one TLS record instead of
// many); large tensor segments go to the connection as they lie in the tensors, without a copy.
inline void write_message(Connection& conn, Kind kind, const codec::EncodedMessage& m) {
  constexpr std::size_t kGather = std::size_t{64} << 10;
  Prefix p;
  p.kind = kind;
  p.header_bytes = static_cast<std::uint32_t>(m.header.size());
  p.payload_bytes = m.payload_bytes;
  std::string buf = encode_prefix(p);
  buf += m.header;
  for (std::string_view seg : m.segments) {
    if (seg.size() < kGather) {
      buf.append(seg);
      if (buf.size() < kGather) continue;
    } else if (!buf.empty()) {
      conn.write(buf.data(), buf.size());
      buf.clear();
      conn.write(seg.data(), seg.size());
      continue;
    } else {
      conn.write(seg.data(), seg.size());
      continue;
    }
    conn.write(buf.data(), buf.size());
    buf.clear();
  }
  if (!buf.empty()) conn.write(buf.data(), buf.size());
}

}  // namespace veil::transport::stream
