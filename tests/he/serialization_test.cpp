#include "veil/he/serialization.h"

#include <gtest/gtest.h>

#include "he_test_util.h"
#include "veil/he/decryptor.h"
#include "veil/he/encryptor.h"
#include "veil/he/evaluator.h"

namespace veil::he {
namespace {

struct Fixture {
  Context ctx{Parameters::for_matmul(8, 8, 20)};
  std::vector<int32_t> x = testing::random_ints(9 * 20, -128, 127, 21);
  std::vector<int32_t> w = testing::random_ints(20 * 6, -127, 127, 22);
};

TEST(Serialization, RoundTripsEveryObjectAndSizesAreBitExact) {
  Fixture f;
  const Parameters& p = f.ctx.parameters();
  EXPECT_EQ(load_parameters(save(p)), p);
  SecretKey key = KeyGenerator(f.ctx).create_one_time_key();
  EncryptedMatrix ct = Encryptor(f.ctx, key).encrypt(f.x, 9, 20, Layout::kColumns);
  auto up = save(f.ctx, ct);
  EXPECT_EQ(up.size(), kHeaderSize + 12 + (9 * 20 * p.log_q + 7) / 8);
  EncryptedMatrix ct2 = load_encrypted_matrix(f.ctx, up);
  EXPECT_EQ(ct2.coeffs, ct.coeffs);
  Evaluator ev(f.ctx);
  WeightPlan plan = ev.make_plan(f.w, 20, 6);
  EncryptedResult res = ev.multiply(ct2, plan);
  auto down = save(f.ctx, res);
  EXPECT_EQ(down.size(), kHeaderSize + 20 + (9 * 6 * p.log_q_down + 7) / 8);
  PlanMask mask = ev.make_mask(plan, Layout::kColumns);
  mask.scale_kind = PlanMask::ScaleKind::kPerOutput;
  mask.scales.assign(6, 0.5f);
  PlanMask mask2 = load_plan_mask(f.ctx, save(f.ctx, mask));
  EXPECT_EQ(mask2.mask, mask.mask);
  EXPECT_EQ(mask2.col_sums, mask.col_sums);
  EXPECT_EQ(mask2.scales, mask.scales);
  EXPECT_EQ(Decryptor(f.ctx, key).decrypt(load_encrypted_result(f.ctx, down), mask2),
            testing::int_matmul(f.x, f.w, 9, 20, 6));
  EXPECT_EQ(peek_kind(down), BlobKind::kEncryptedResult);
}

TEST(Serialization, RejectsCorruptedTruncatedAndForeignBlobs) {
  Fixture f;
  SecretKey key = KeyGenerator(f.ctx).create_one_time_key();
  EncryptedMatrix ct = Encryptor(f.ctx, key).encrypt(f.x, 9, 20, Layout::kRows);
  const auto up = save(f.ctx, ct);
  auto bad = up;
  // Every truncation is rejected.
  for (size_t len = 0; len < up.size(); len += 7)
    EXPECT_THROW((void)load_encrypted_matrix(f.ctx, std::span(up.data(), len)), std::invalid_argument) << len;
  bad = up;
  bad[0] = 'X';  // magic
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad[4] = static_cast<uint8_t>(kWireVersion + 1);  // version
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad[16] ^= 1;  // parameter hash
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad[kHeaderSize] = 9;  // layout
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad[kHeaderSize + 4] = 0xff;  // rows -> size mismatch
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad[kHeaderSize + 8] = 0xff;  // cols beyond the parameters
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad.back() |= 0x80;  // padding bits after the last 54-bit coefficient
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  bad = up;
  bad.push_back(0);  // trailing byte
  EXPECT_THROW((void)load_encrypted_matrix(f.ctx, bad), std::invalid_argument);
  EXPECT_THROW((void)load_encrypted_result(f.ctx, up), std::invalid_argument);  // wrong kind
  Context other(Parameters::for_matmul(8, 8, 21));
  EXPECT_THROW((void)load_encrypted_matrix(other, up), std::invalid_argument);  // other parameters
  auto pb = save(f.ctx.parameters());
  pb[kHeaderSize + 4] = 60;  // log_q = 60 at N = 2048 is insecure / inconsistent
  EXPECT_THROW((void)load_parameters(pb), std::invalid_argument);
}

}  // namespace
}  // namespace veil::he
