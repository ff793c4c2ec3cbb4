#include "veil/he/verify.h"

#include <gtest/gtest.h>

#include <random>

#include "he_test_util.h"
#include "veil/he/matmul.h"
#include "veil/he/serialization.h"

namespace veil::he {
namespace {

std::vector<float> normal(size_t n, float sd, uint64_t salt) {
  auto rng = testing::test_rng(salt);
  std::normal_distribution<float> d(0, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Honest plans and results pass the checks in both layouts, forward and transposed, exact and
// compact; every tampering the data owner must catch is caught.
TEST(ProductCheck, HonestPassesAndEveryTamperingIsCaught) {
  const size_t k = 40, n = 24;
  for (Precision prec : {Precision::kExact, Precision::kCompact}) {
    const Parameters parms = Parameters::for_matmul(8, 8, k, 0, prec);
    HeMatmulServer server(parms);
    HeMatmulClient client(parms);
    const auto w = normal(k * n, 0.05f, 1), w2 = normal(k * n, 0.05f, 2);
    const uint64_t fwd = server.add_weights(w, k, n), other = server.add_weights(w2, k, n);
    const uint64_t bwd = server.add_weights(w, k, n, /*transpose=*/true);
    auto cf = std::make_shared<const ProductCheck>(ProductCheck::for_weights(w, k, n, false, 8));
    auto co = std::make_shared<const ProductCheck>(ProductCheck::for_weights(w2, k, n, false, 8));
    auto cb = std::make_shared<const ProductCheck>(ProductCheck::for_weights(w, k, n, true, 8));
    EXPECT_EQ(cb->inner(), n);
    EXPECT_LT(cf->bytes(), 5 * 8 * (k + n) + 64);
    for (size_t m : {size_t{3}, size_t{200}}) {
      const Layout layout = choose_layout(parms, m);
      const Context& ctx = client.context();
      // A mask shifted by Δ·X^i, a column sum or a scale changed: refused before use.
      auto info = server.plan_info(fwd, layout);
      PlanMask pm = load_plan_mask(ctx, info);
      PlanMask shifted = pm;
      shifted.mask[3 * parms.poly_degree + 5] += uint64_t{1} << (parms.log_q - parms.log_t);
      shifted.mask[3 * parms.poly_degree + 5] &= (uint64_t{1} << parms.log_q) - 1;
      EXPECT_THROW((void)client.add_plan_info(save(ctx, shifted), cf), VerificationError);
      PlanMask sums = pm;
      sums.col_sums[0] += 1;
      EXPECT_THROW((void)client.add_plan_info(save(ctx, sums), cf), VerificationError);
      PlanMask scales = pm;
      scales.scales[1] *= 1.5f;
      EXPECT_THROW((void)client.add_plan_info(save(ctx, scales), cf), VerificationError);
      EXPECT_THROW((void)client.add_plan_info(server.plan_info(other, layout), cf), VerificationError)
          << "another plan's mask";
      ASSERT_EQ(client.add_plan_info(info, cf), fwd);
      ASSERT_EQ(client.add_plan_info(server.plan_info(other, layout), co), other);
      ASSERT_EQ(client.add_plan_info(server.plan_info(bwd, layout), cb), bwd);

      const auto x = normal(m * k, 1.0f, 10 + m);
      std::unique_ptr<HeMatmulClient::Upload> up;
      const auto upload = client.encrypt(x, m, k, up);
      const auto y = server.multiply(upload, fwd);
      EXPECT_NO_THROW((void)client.decrypt(y, *up, fwd));
      // Another plan's result for this upload.
      EXPECT_THROW((void)client.decrypt(server.multiply(upload, other), *up, fwd), VerificationError);
      // One value off by one (exact) or by t/2 (a wrapped value); in compact by a large offset.
      EncryptedResult r = load_encrypted_result(ctx, y);
      const uint64_t unit = uint64_t{1} << (parms.log_q_down - parms.log_t);
      const uint64_t down = (uint64_t{1} << parms.log_q_down) - 1;
      for (uint64_t shift : {unit, uint64_t{1} << (parms.log_q_down - 1)}) {
        if (prec == Precision::kCompact && shift == unit) continue;  // within the noise bound: not detectable
        EncryptedResult bad = r;
        bad.coeffs[7] = (bad.coeffs[7] + shift) & down;
        EXPECT_THROW((void)client.decrypt(save(ctx, bad), *up, fwd), VerificationError) << shift;
      }
      // Backward through the transposed plan, honest.
      const auto g = normal(m * n, 1.0f, 20 + m);
      std::unique_ptr<HeMatmulClient::Upload> gup;
      const auto gbytes = client.encrypt(g, m, n, gup, bwd);
      EXPECT_NO_THROW((void)client.decrypt(server.multiply(gbytes, bwd), *gup, bwd));
    }
    EXPECT_GT(client.products_checked(), 0u);
  }
}

// Freivalds soundness on the exact integers: every single-value change of a product, of any size
// below t, is caught (probability of a miss 2^-61 per row).
TEST(ProductCheck, CatchesEverySingleValueChange) {
  const size_t k = 16, n = 12, m = 5;
  const auto w = normal(k * n, 0.1f, 3);
  const ProductCheck c = ProductCheck::for_weights(w, k, n, false, 8);
  const QuantizedColumns q = quantize_columns(w, k, n, 8);
  auto rng = testing::test_rng(4);
  std::vector<int32_t> x(m * k);
  for (auto& v : x) v = static_cast<int32_t>(rng() % 256) - 128;
  std::vector<int64_t> y(m * n, 0);
  for (size_t i = 0; i < m; ++i)
    for (size_t cc = 0; cc < n; ++cc)
      for (size_t j = 0; j < k; ++j) y[i * n + cc] += int64_t{x[i * k + j]} * q.values[j * n + cc];
  const Parameters p = Parameters::for_matmul(8, 8, k);
  EXPECT_NO_THROW(c.check_product(p, y, x, m));
  for (int trial = 0; trial < 2000; ++trial) {
    auto bad = y;
    const int64_t delta = static_cast<int64_t>(rng() % ((uint64_t{1} << p.log_t) - 1)) + 1;
    bad[rng() % bad.size()] += (trial % 2 ? delta : -delta);
    EXPECT_THROW(c.check_product(p, bad, x, m), VerificationError);
  }
}

}  // namespace
}  // namespace veil::he
