// The torch-free wire core: a header parses into a plain description, the payload lands in plain
// buffers, hostile headers are refused before anything is allocated.
#include <gtest/gtest.h>

#include <cstring>

#include "transport/wire_format.h"
#include "veil/v1/party.pb.h"

namespace veil::transport::codec {
namespace {

WireHeader sample() {
  WireHeader h;
  h.op = "test.plain";
  h.request_id = "r-7";
  h.layer = 2;
  h.ints = {4, -1};
  h.tensors = {{"x", DType::kF32, {2, 3}, 24}, {"m", DType::kBool, {3}, 3}, {"e", DType::kI64, {0, 9}, 0}};
  h.blobs = {{"ct", 5}};
  h.meta = {{"k", "v"}};
  h.payload_bytes = 24 + 3 + 5;
  return h;
}

TEST(WireFormat, HeaderAndPayloadRoundTripInPlainBuffers) {
  const WireHeader h = sample();
  const std::string header = serialize_header(h);
  EXPECT_EQ(serialize_header(parse_header(header)), header);  // deterministic and lossless
  std::string payload(24, '\x11');
  payload += std::string("\x01\x00\x01", 3) + "hello";
  WireDecoder d;
  (void)d.header(header);
  for (std::size_t i = 0; i < payload.size(); i += 4) d.chunk(std::string_view(payload).substr(i, 4));
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(d.wire_bytes(), header.size() + payload.size());
  const WirePayload p = d.finish();
  EXPECT_EQ(p.header.op, "test.plain");
  EXPECT_EQ(p.header.ints, (std::vector<std::int32_t>{4, -1}));
  ASSERT_EQ(p.header.tensors.size(), 3u);
  EXPECT_EQ(p.header.tensors[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(p.header.tensors[0].bytes, 24u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.tensor_data[0].get()) % 64, 0u);
  EXPECT_EQ(std::memcmp(p.tensor_data[0].get(), payload.data(), 24), 0);
  EXPECT_EQ(p.tensor_data[2], nullptr);  // zero bytes
  EXPECT_EQ(p.blob_data, (std::vector<std::string>{"hello"}));
  EXPECT_EQ(join_flat(header, {payload}).size(), 8 + header.size() + payload.size());
}

std::string refusal(const std::string& header, const CodecLimits& limits = {}) {
  try {
    (void)parse_header(header, limits);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted a bad header";
  return "";
}

TEST(WireFormat, ManyTinyEntriesAreRefusedBeforeTheHeaderIsParsed) {
  v1::Header h;
  h.set_version(1);
  h.set_op("test.many");
  for (int i = 0; i < 5000; ++i) h.add_meta();  // two bytes each on the wire
  try {
    (void)parse_header(h.SerializeAsString());
    FAIL();
  } catch (const MessageTooLarge& e) {
    EXPECT_NE(std::string(e.what()).find("entries"), std::string::npos) << e.what();
  }
}

TEST(WireFormat, BadBoolBytesShortPayloadAndOverrunsAreErrors) {
  const std::string header = serialize_header(sample());
  WireDecoder d;
  (void)d.header(header);
  EXPECT_NE(refusal(header + "x").find("not a veil.v1.Header"), std::string::npos);
  std::string payload(24, '\0');
  payload += std::string("\x01\x02\x00", 3) + "hello";
  d.chunk(payload);
  EXPECT_THROW(d.chunk("!"), ProtocolError);
  EXPECT_THROW((void)d.finish(), ProtocolError);  // bool byte 2
  WireDecoder shorter;
  (void)shorter.header(header);
  shorter.chunk(std::string_view(payload).substr(0, 10));
  EXPECT_THROW((void)shorter.finish(), ProtocolError);
  EXPECT_THROW(WireDecoder().chunk("x"), ProtocolError);  // payload before the header
  WireHeader dup = sample();
  dup.blobs.push_back({"ct", 0});
  EXPECT_NE(refusal(serialize_header(dup)).find("appears twice"), std::string::npos);
  CodecLimits small;
  small.max_message_bytes = 16;
  EXPECT_THROW((void)serialize_header(sample(), small), MessageTooLarge);
  EXPECT_NE(refusal(header, small).find("limit"), std::string::npos);
}

TEST(WireFormat, FlatFormNeedsMagicAndAWholeHeader) {
  EXPECT_THROW((void)split_flat("VEI"), ProtocolError);
  EXPECT_THROW((void)split_flat(std::string("VEIL\x05\x00\x00\x00" "abc", 11)), ProtocolError);
  const auto parts = split_flat(std::string("VEIL\x02\x00\x00\x00" "abcd", 12));
  EXPECT_EQ(parts.header, "ab");
  EXPECT_EQ(parts.payload, "cd");
}

}  // namespace
}  // namespace veil::transport::codec
