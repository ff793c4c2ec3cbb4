// The wire codec: every dtype round trips byte for byte, and malformed or oversized input is an
// error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "transport/codec.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"
#include "veil/v1/party.pb.h"
#include "transport/message_equal.h"

namespace veil::transport {
namespace {

// The data owner, as an in-process caller.
Peer owner() { return Peer::identified(Role::kDataOwner, "test"); }

Message sample() {
  Message m;
  m.op = "test.all";
  m.request_id = "r-1";
  m.layer = 3;
  m.ints = {1, -2, 3};
  m.meta = {{"k", "v"}, {"empty", ""}};
  m.blobs = {{"ct", std::string("\x00\x01\xff", 3)}, {"none", ""}};
  const std::vector<at::ScalarType> types = {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble, at::kLong,
                                             at::kInt,   at::kShort, at::kChar,     at::kByte};
  for (auto t : types) m.tensors[c10::toString(t)] = (at::randn({3, 5}) * 50).to(t);
  m.tensors["bool"] = at::rand({7}) > 0.5;
  m.tensors["scalar"] = at::scalar_tensor(2.5);
  m.tensors["empty"] = at::empty({0, 4});
  m.tensors["strided"] = at::arange(12, at::kFloat).reshape({3, 4}).t();  // not contiguous
  return m;
}

using veil::testing::expect_same;

TEST(Codec, EveryDtypeRoundTripsExactly) {
  const Message m = sample();
  const std::string flat = codec::encode_flat(m);
  expect_same(m, codec::decode_flat(flat));
  EXPECT_EQ(codec::encode_flat(codec::decode_flat(flat)), flat);  // deterministic
}

TEST(Codec, ChunkBoundariesDoNotMatter) {
  const Message m = sample();
  auto e = codec::encode(m);
  std::string payload;
  for (auto s : e.segments) payload.append(s);
  codec::MessageDecoder d;
  d.header(e.header);
  for (std::size_t i = 0; i < payload.size(); i += 7) d.chunk(std::string_view(payload).substr(i, 7));
  EXPECT_EQ(d.wire_bytes(), e.wire_bytes());
  expect_same(m, d.finish());
}

std::string expect_protocol_error(std::string_view bytes, const codec::CodecLimits& limits = {}) {
  try {
    (void)codec::decode_flat(bytes, limits);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted malformed bytes";
  return "";
}

TEST(Codec, MalformedInputIsAnErrorNamingTheProblem) {
  Message m;
  m.op = "test.x";
  m.tensors["x"] = at::ones({4, 4});
  const std::string flat = codec::encode_flat(m);
  EXPECT_NE(expect_protocol_error("").find("VEIL magic"), std::string::npos);
  EXPECT_NE(expect_protocol_error("VEIL\xff\xff\xff\x7f").find("runs past"), std::string::npos);
  EXPECT_NE(expect_protocol_error(flat.substr(0, flat.size() - 1)).find("ends after"), std::string::npos);
  EXPECT_NE(expect_protocol_error(flat + "x").find("runs past"), std::string::npos);
  std::string garbage = flat;
  for (std::size_t i = 8; i < 20 && i < garbage.size(); ++i) garbage[i] = static_cast<char>(0xff);
  (void)expect_protocol_error(garbage);
  // Over the limit: refused from the header alone, before any allocation.
  codec::CodecLimits small;
  small.max_message_bytes = 32;
  try {
    (void)codec::decode_flat(flat, small);
    FAIL();
  } catch (const codec::MessageTooLarge& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'x'"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)codec::encode(m, small), codec::MessageTooLarge);
}

// A header as a hostile peer could write it.
std::string header_with(const std::vector<std::int64_t>& shape, v1::DType dtype, std::uint64_t payload) {
  v1::Header h;
  h.set_version(1);
  h.set_op("test.x");
  auto* t = h.add_tensors();
  t->set_name("x");
  t->set_dtype(dtype);
  for (auto s : shape) t->add_shape(s);
  h.set_payload_bytes(payload);
  return h.SerializeAsString();
}

std::string header_error(const std::string& header) {
  codec::MessageDecoder d;
  try {
    d.header(header);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted a bad header";
  return "";
}

TEST(Codec, HostileHeadersAreRefusedBeforeAllocating) {
  const std::int64_t big = std::int64_t{1} << 40;
  EXPECT_NE(header_error(header_with({big, big}, v1::DTYPE_F32, 0)).find("limit"), std::string::npos);
  EXPECT_NE(header_error(header_with({-1}, v1::DTYPE_F32, 0)).find("negative"), std::string::npos);
  EXPECT_NE(header_error(header_with({2}, static_cast<v1::DType>(99), 8)).find("unknown dtype"), std::string::npos);
  EXPECT_NE(header_error(header_with({2}, v1::DTYPE_F32, 9)).find("declares 9"), std::string::npos);
  EXPECT_NE(header_error(header_with(std::vector<std::int64_t>(17, 1), v1::DTYPE_F32, 4)).find("rank"), std::string::npos);
  EXPECT_NE(header_error(header_with({0, big * 1024}, v1::DTYPE_F32, 0)).find("limit"), std::string::npos);
  EXPECT_NE(header_error("\xff\xff\xff").find("not a veil.v1.Header"), std::string::npos);
  v1::Header h;
  h.set_version(2);
  h.set_op("x");
  EXPECT_NE(header_error(h.SerializeAsString()).find("version 2"), std::string::npos);
  // A zero-size tensor is fine.
  codec::MessageDecoder ok;
  ok.header(header_with({0, 5}, v1::DTYPE_F32, 0));
  EXPECT_EQ(ok.finish().tensor("x").sizes(), (std::vector<std::int64_t>{0, 5}));
}

TEST(Codec, UnsupportedDtypesAreRefusedOnEncode) {
  Message m;
  m.op = "test.x";
  m.tensors["c"] = at::ones({2}, at::kComplexFloat);
  EXPECT_THROW((void)codec::encode(m), ProtocolError);
}

TEST(Codec, BoolBytesOtherThanZeroOrOneAreRefused) {
  Message m;
  m.op = "test.b";
  m.tensors["b"] = at::ones({2}, at::kBool);
  std::string flat = codec::encode_flat(m);
  flat.back() = 7;
  EXPECT_NE(expect_protocol_error(flat).find("bool"), std::string::npos);
}

TEST(InProcess, CountsEncodedWireBytesAndRejectsWhatTheWireWould) {
  auto svc = std::make_shared<Service>("worker-0");
  svc->on("test.echo", kWorkerCallers, [](const Message& m) { return m; });
  auto ep = connect_in_process(svc, owner());
  Message m;
  m.op = "test.echo";
  m.tensors["x"] = at::ones({256});
  const auto r = ep->call(m);
  EXPECT_TRUE(at::equal(r.tensor("x"), m.tensors["x"]));
  // 1 KiB of payload plus a header of a few dozen bytes, each way.
  EXPECT_GT(ep->stats().bytes_sent, 1024u);
  EXPECT_LT(ep->stats().bytes_sent, 1024u + 128);
  EXPECT_EQ(ep->stats().bytes_sent, ep->stats().bytes_received);
  m.tensors["bad"] = at::ones({2}, at::kComplexDouble);
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace veil::transport
