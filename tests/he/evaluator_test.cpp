#include "veil/he/evaluator.h"

#include <gtest/gtest.h>

#include "he_test_util.h"
#include "veil/he/decryptor.h"
#include "veil/he/encryptor.h"
#include "veil/he/keys.h"

namespace veil::he {
namespace {

using testing::int_matmul;
using testing::random_ints;

std::vector<int64_t> roundtrip(const Context& ctx, const std::vector<int32_t>& x, const std::vector<int32_t>& w,
                               size_t m, size_t k, size_t n, Layout layout, bool transpose = false) {
  KeyGenerator keygen(ctx);
  SecretKey key = keygen.create_one_time_key();
  Encryptor enc(ctx, key);
  const size_t inner = transpose ? n : k;
  EncryptedMatrix ct = enc.encrypt(x, m, inner, layout);
  Evaluator ev(ctx);
  WeightPlan plan = ev.make_plan(w, k, n, transpose);
  PlanMask mask = ev.make_mask(plan, layout);
  EncryptedResult res = ev.multiply(ct, plan);
  Decryptor dec(ctx, key);
  return dec.decrypt(res, mask);
}

TEST(Evaluator, RandomShapesDecryptExactlyInBothLayouts) {
  struct Case { size_t m, k, n; int bx, bw; };
  const Case cases[] = {{1, 1, 1, 8, 8},     {3, 17, 5, 8, 8},     {40, 64, 33, 4, 4},   {130, 100, 9, 8, 8},
                        {7, 2100, 3, 8, 8},  {2049, 5, 4, 6, 5},   {20, 300, 17, 16, 4}, {9, 50, 11, 8, 12}};
  uint64_t salt = 1;
  for (const auto& c : cases) {
    Context ctx(Parameters::for_matmul(c.bx, c.bw, c.k));
    const int32_t xlo = -(1 << (c.bx - 1)), xhi = (1 << (c.bx - 1)) - 1, wmax = (1 << (c.bw - 1)) - 1;
    auto x = random_ints(c.m * c.k, xlo, xhi, salt++);
    auto w = random_ints(c.k * c.n, -wmax, wmax, salt++);
    const auto want = int_matmul(x, w, c.m, c.k, c.n);
    for (Layout layout : {Layout::kColumns, Layout::kRows}) {
      EXPECT_EQ(roundtrip(ctx, x, w, c.m, c.k, c.n, layout), want)
          << "m=" << c.m << " k=" << c.k << " n=" << c.n << " layout=" << static_cast<int>(layout) << " "
          << ctx.parameters().to_string();
    }
  }
}

TEST(Evaluator, WorstCaseMagnitudesAtTheLargestCoveredInnerDimension) {
  // 8-bit inputs at -128 and weights at +-127 over k = 4096 (he-lora's chunk, the largest inner
  // dimension at N = 2048): |Y| = 128*127*4096 reaches the bound, and every error term is
  // multiplied by the largest weights.
  const size_t m = 33, k = 4096, n = 3;
  Context ctx(Parameters::for_matmul(8, 8, k));
  ASSERT_EQ(ctx.parameters().poly_degree, 2048u);
  ASSERT_EQ(ctx.parameters().log_q, 52u);
  std::vector<int32_t> x(m * k, -128), w(k * n);
  for (size_t j = 0; j < k; ++j) {
    w[j * n + 0] = 127;
    w[j * n + 1] = -127;
    w[j * n + 2] = (j % 2) ? 127 : -127;
  }
  x[5] = 127;  // one row not at the extreme
  const auto want = int_matmul(x, w, m, k, n);
  ASSERT_EQ(want[1 * n + 0], -int64_t{128} * 127 * 4096);
  ASSERT_EQ(static_cast<uint64_t>(-want[1 * n + 0]), ctx.parameters().product_bound());
  for (Layout layout : {Layout::kColumns, Layout::kRows}) EXPECT_EQ(roundtrip(ctx, x, w, m, k, n, layout), want);
}

TEST(Evaluator, TransposedPlanComputesTheBackwardProduct) {
  const size_t m = 19, k = 40, n = 24;  // W is k x n; gradient G is m x n; G W^T is m x k
  Context ctx(Parameters::for_matmul(8, 8, n));
  auto g = random_ints(m * n, -128, 127, 7);
  auto w = random_ints(k * n, -127, 127, 8);
  std::vector<int32_t> wt(n * k);
  for (size_t j = 0; j < k; ++j)
    for (size_t c = 0; c < n; ++c) wt[c * k + j] = w[j * n + c];
  const auto want = int_matmul(g, wt, m, n, k);
  for (Layout layout : {Layout::kColumns, Layout::kRows})
    EXPECT_EQ(roundtrip(ctx, g, w, m, k, n, layout, /*transpose=*/true), want);
}

TEST(Evaluator, RejectsMismatchedInputs) {
  Context ctx(Parameters::for_matmul(8, 8, 64));
  Context other(Parameters::for_matmul(8, 8, 128));
  Evaluator ev(ctx);
  std::vector<int32_t> w(64 * 4, 1);
  WeightPlan plan = ev.make_plan(w, 64, 4);
  std::vector<int32_t> bad = w;
  bad[7] = 128;
  EXPECT_THROW((void)ev.make_plan(bad, 64, 4), std::invalid_argument);
  EXPECT_THROW((void)ev.make_plan(w, 64, 5), std::invalid_argument);
  KeyGenerator keygen(other);
  SecretKey key = keygen.create_one_time_key();
  Encryptor enc(other, key);
  std::vector<int32_t> x(2 * 64, 0);
  EncryptedMatrix ct = enc.encrypt(x, 2, 64, Layout::kColumns);
  EXPECT_THROW((void)ev.multiply(ct, plan), std::invalid_argument);  // wrong parameter hash
  ct.parms_hash = ctx.parms_hash();
  ct.coeffs[3] = ~0ull;
  EXPECT_THROW((void)ev.multiply(ct, plan), std::invalid_argument);  // coefficient >= q
  ct.coeffs.pop_back();
  EXPECT_THROW((void)ev.multiply(ct, plan), std::invalid_argument);  // truncated
}

}  // namespace
}  // namespace veil::he
