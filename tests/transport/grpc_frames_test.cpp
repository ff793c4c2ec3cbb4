// The gRPC frames as byte buffers (src/transport/grpc/wire.h): what the sender writes is exactly
// what protobuf would write for the same veil.v1.Frame messages, the slices keep the tensors alive
// after the message is gone, and the receiver's fast path (canonical chunk frames, split anywhere
// across slices) and its protobuf fallback decode the same message and refuse the same bad frames.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "transport/grpc/wire.h"
#include "veil/transport/errors.h"
#include "veil/v1/party.pb.h"
#include "transport/message_equal.h"

namespace veil::transport {
namespace {

std::string flat(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(b.Dump(&slices).ok());
  std::string s;
  for (const auto& sl : slices) s.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return s;
}

// The same bytes cut into slices of `piece` bytes (1: every byte its own slice).
grpc::ByteBuffer resliced(const std::string& bytes, std::size_t piece) {
  std::vector<grpc::Slice> slices;
  for (std::size_t i = 0; i < bytes.size(); i += piece) slices.emplace_back(bytes.data() + i, std::min(piece, bytes.size() - i));
  return slices.empty() ? grpc::ByteBuffer() : grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::ByteBuffer buffer(const std::string& bytes) { return resliced(bytes, bytes.size() + 1); }

Message sample() {
  Message m;
  m.op = "obfuscatune.forward";
  m.request_id = "r-1";
  m.layer = 3;
  m.ints = {0, 1, 2};
  m.tensors["x"] = at::randn({700, 1000});  // 2.8 MB: three chunks
  m.tensors["small"] = at::arange(10, at::kLong);
  m.tensors["t"] = at::randn({50, 30}).t();  // not contiguous: encode() makes a copy
  m.blobs["b"] = std::string(5000, 'z');
  m.meta["k"] = "v";
  return m;
}

using veil::testing::expect_same;

TEST(GrpcFrames, AreTheBytesProtobufWritesAndOutliveTheMessage) {
  std::vector<grpc::ByteBuffer> frames;
  std::string header, payload;
  Message original = sample();
  {
    Message m = original;
    for (auto& [name, t] : m.tensors) t = t.clone();
    const auto encoded = codec::encode(m);
    header = encoded.header;
    for (auto s : encoded.segments) payload.append(s);
    frames = wire::frames(encoded);
    // The tensor the frames point into is overwritten only after the message and its encoding are
    // gone below; the frames hold their own references.
  }
  ASSERT_EQ(frames.size(), 1 + (payload.size() + codec::kChunkBytes - 1) / codec::kChunkBytes);
  v1::Frame f;
  ASSERT_TRUE(f.ParseFromString(flat(frames[0])));
  ASSERT_EQ(f.kind_case(), v1::Frame::kHeader);
  EXPECT_EQ(f.header().SerializeAsString(), header);
  EXPECT_EQ(flat(frames[0]), f.SerializeAsString());
  std::string chunks;
  for (std::size_t i = 1; i < frames.size(); ++i) {
    const std::string bytes = flat(frames[i]);
    ASSERT_TRUE(f.ParseFromString(bytes));
    ASSERT_EQ(f.kind_case(), v1::Frame::kChunk);
    EXPECT_LE(f.chunk().size(), codec::kChunkBytes);
    if (i + 1 < frames.size()) {
      EXPECT_EQ(f.chunk().size(), codec::kChunkBytes);
    }
    EXPECT_EQ(bytes, f.SerializeAsString());  // canonical: what the generated code would send
    chunks += f.chunk();
  }
  EXPECT_EQ(chunks, payload);

  codec::MessageDecoder d;
  for (const auto& fr : frames) wire::consume(fr, d);
  expect_same(d.finish(), original);
}

TEST(GrpcFrames, ConsumeTakesFramesSplitAnywhereAndNonCanonicalOnes) {
  const Message m = sample();
  const auto encoded = codec::encode(m);
  const auto frames = wire::frames(encoded);
  for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{4096}, std::size_t{1} << 30}) {
    if (piece == 1) {  // byte-sized slices only for the header and a small chunk (slow otherwise)
      codec::MessageDecoder d;
      wire::consume(resliced(flat(frames[0]), 1), d);
      v1::Frame c;
      c.set_chunk(std::string(37, '\0'));
      wire::consume(resliced(c.SerializeAsString(), 1), d);
      continue;
    }
    codec::MessageDecoder d;
    for (const auto& fr : frames) wire::consume(resliced(flat(fr), piece), d);
    expect_same(d.finish(), m);
  }
  // A chunk frame protobuf accepts but the fast path does not: an over-long length varint, and a
  // chunk field given twice (the last one counts). Both go through the protobuf fallback.
  codec::MessageDecoder d;
  wire::consume(frames[0], d);
  std::string payload;
  for (auto s : encoded.segments) payload.append(s);
  std::string first = payload.substr(0, 1000), rest = payload.substr(1000);
  std::string padded = "\x12";
  padded += static_cast<char>(0x80 | (first.size() & 0x7f));
  padded += static_cast<char>(0x80 | ((first.size() >> 7) & 0x7f));
  padded += '\0';
  padded += first;
  wire::consume(buffer(padded), d);
  v1::Frame decoy, last;
  decoy.set_chunk("ignored");
  std::string twice = decoy.SerializeAsString();
  for (std::size_t pos = 0; pos < rest.size(); pos += codec::kChunkBytes) {
    last.set_chunk(rest.substr(pos, codec::kChunkBytes));
    wire::consume(buffer(twice + last.SerializeAsString()), d);
  }
  expect_same(d.finish(), m);
}

TEST(GrpcFrames, BadFramesAreProtocolErrors) {
  const Message m = sample();  // outlives `encoded`, which points into its blobs
  const auto encoded = codec::encode(m);
  const auto frames = wire::frames(encoded);
  const auto refused = [&](const std::string& bytes, const char* why, bool after_header = true) {
    codec::MessageDecoder d;
    if (after_header) wire::consume(frames[0], d);
    try {
      wire::consume(buffer(bytes), d);
      ADD_FAILURE() << "accepted: " << why;
    } catch (const ProtocolError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused("", "an empty frame");
  refused("\xff\xff\xff", "not a veil.v1.Frame");
  refused("\x12\x05" "abc", "not a veil.v1.Frame");  // length past the end
  v1::Frame big;
  big.set_chunk(std::string(codec::kChunkBytes + 1, '\0'));
  refused(big.SerializeAsString(), "over 1 MiB");
  refused(std::string("\x12\x00", 2) + big.SerializeAsString(), "over 1 MiB");  // the fallback's check
  v1::Frame chunk;
  chunk.set_chunk("abc");
  refused(chunk.SerializeAsString(), "", false);  // payload before the header: the decoder refuses
}

}  // namespace
}  // namespace veil::transport
