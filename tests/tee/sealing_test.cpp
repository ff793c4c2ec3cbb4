// Sealing to an enclave key: round trips (empty, small, multi-MB in chunks); tampering with the
// ciphertext, the header, the associated data (report hash), the order or the end is refused.
#include <gtest/gtest.h>

#include "veil/tee/attestation.h"
#include "veil/tee/sealing.h"

namespace veil::tee {
namespace {

TEST(Sealing, RoundTrips) {
  SealingKey key;
  const std::string aad = sha256("report");
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}}) {
    const std::string payload = random_bytes(n);
    auto s = seal(key.public_key(), aad, payload, 256);
    EXPECT_EQ(open(key, aad, s), payload);
  }
}

TEST(Sealing, MultiMegabyteInChunks) {
  SealingKey key;
  const std::string aad = sha256("report");
  const std::string payload = random_bytes(std::size_t{9} << 20);
  auto s = seal(key.public_key(), aad, payload, std::size_t{1} << 20);
  EXPECT_EQ(s.chunks.size(), 9u);
  EXPECT_EQ(s.chunks[0].find(payload.substr(0, 64)), std::string::npos);
  EXPECT_EQ(open(key, aad, s), payload);
}

std::string refusal(const SealingKey& key, const std::string& aad, const SealedStream& s) {
  try {
    (void)open(key, aad, s);
  } catch (const SealError& e) {
    return e.what();
  }
  return "";
}

TEST(Sealing, TamperingRefused) {
  SealingKey key, other;
  const std::string aad = sha256("report");
  auto s = seal(key.public_key(), aad, random_bytes(5000), 1000);
  ASSERT_EQ(refusal(key, aad, s), "");

  auto flipped = s;
  flipped.chunks[2][17] ^= 1;
  EXPECT_NE(refusal(key, aad, flipped).find("chunk 2 failed authentication"), std::string::npos);
  auto tag = s;
  tag.chunks[4].back() ^= 0x80;
  EXPECT_NE(refusal(key, aad, tag).find("failed authentication"), std::string::npos);
  EXPECT_NE(refusal(key, sha256("another report"), s).find("failed authentication"), std::string::npos);
  EXPECT_NE(refusal(other, aad, s).find("failed authentication"), std::string::npos);
  auto swapped = s;
  std::swap(swapped.chunks[0], swapped.chunks[1]);
  EXPECT_NE(refusal(key, aad, swapped), "");
  auto cut = s;
  cut.chunks.pop_back();  // chunk 3 was not sealed as final
  EXPECT_NE(refusal(key, aad, cut), "");
  auto header = s;
  header.header[12] ^= 1;  // the ephemeral key
  EXPECT_NE(refusal(key, aad, header), "");
  header = s;
  header.header[0] = 'X';
  EXPECT_NE(refusal(key, aad, header).find("bad header"), std::string::npos);
  EXPECT_THROW(Sealer(std::string(5, 'x'), aad), SealError);
}

}  // namespace
}  // namespace veil::tee
