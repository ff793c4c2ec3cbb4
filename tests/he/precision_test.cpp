// Precision::kCompact and the per-shape bounds of veil::he parameters (docs/he.md §3.1): the
// derived moduli, the decryption error's standard deviation against the formula, worst-case
// magnitudes without wrap-around, and the refusal of inputs or weights outside the bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <random>

#include "he_test_util.h"
#include "veil/he/decryptor.h"
#include "veil/he/encryptor.h"
#include "veil/he/evaluator.h"
#include "veil/he/keys.h"
#include "veil/he/matmul.h"
#include "veil/he/quantize.h"
#include "veil/he/serialization.h"

namespace veil::he {
namespace {

using testing::int_matmul;
using testing::random_ints;

std::vector<int64_t> roundtrip(const Context& ctx, const std::vector<int32_t>& x, const std::vector<int32_t>& w,
                               size_t m, size_t k, size_t n, Layout layout) {
  SecretKey key = KeyGenerator(ctx).create_one_time_key();
  Encryptor enc(ctx, key);
  EncryptedMatrix ct = enc.encrypt(x, m, k, layout);
  Evaluator ev(ctx);
  WeightPlan plan = ev.make_plan(w, k, n);
  PlanMask mask = ev.make_mask(plan, layout);
  return Decryptor(ctx, key).decrypt(ev.multiply(ct, plan), mask);
}

TEST(Precision, CompactAndBoundsShrinkTheModuli) {
  const Parameters exact = Parameters::for_matmul(8, 8, 768);
  EXPECT_EQ(exact.log_t, 25u);
  EXPECT_EQ(exact.log_q, 48u);
  EXPECT_EQ(exact.log_q_down, 27u);
  // Compact, worst-case weights: Delta = 2^6, t still bounds |XW| + (noise + rounding) / Delta; with
  // ||W_c||_2 >= W_max = 127 the worker drops e = floor(log2(0.3 * 127)) = 5 bits of product units.
  const Parameters compact = Parameters::for_matmul(8, 8, 768, 0, Precision::kCompact);
  EXPECT_TRUE(compact.compact());
  EXPECT_EQ(compact.log_t, 25u);
  EXPECT_EQ(compact.log_q, 31u);
  EXPECT_EQ(compact.log_q_down, 20u);
  EXPECT_EQ(compact.poly_degree, 2048u);
  EXPECT_NE(compact.hash(), exact.hash());
  // Actual weights (dense, L1 = 24000 per column, ||W_c||_2 >= 1000): two bits less of t and of Delta.
  ShapeBounds b;
  b.weight_l1 = 24000;
  b.weight_l2_min = 1000;
  const Parameters tight = Parameters::for_matmul(8, 8, 768, 0, Precision::kExact, b);
  EXPECT_EQ(tight.log_t, 23u);  // 128 * 24000 < 2^22
  EXPECT_EQ(tight.log_q, 44u);  // 3/8 * 2^21 > 19 * 24000
  EXPECT_GE(tight.weight_l1, 24000u);  // the largest L1 the moduli cover, shared by similar plans
  EXPECT_EQ(Parameters::for_matmul(8, 8, 768, 0, Precision::kExact, ShapeBounds{24100, 0, 0}), tight);
  const Parameters tight_compact = Parameters::for_matmul(8, 8, 768, 0, Precision::kCompact, b);
  EXPECT_EQ(tight_compact.log_q, 29u);
  EXPECT_EQ(tight_compact.log_q_down, 15u);  // e = floor(log2(300)) = 8
  // A one-hot row: |XW| <= W_max whatever k; the noise still sums over all k coefficients.
  const Parameters lookup = Parameters::for_matmul(2, 8, 2048, 2048, Precision::kExact, ShapeBounds{0, 1, 0});
  EXPECT_EQ(lookup.log_t, 8u);  // 2^7 > 127
  EXPECT_EQ(lookup.log_q, 8u + 24u);  // 3/8 * 2^24 > 19 * 127 * 2048
  // Round trip through the wire format keeps every field (and validate() accepts them).
  for (const Parameters& p : {compact, tight, tight_compact, lookup}) EXPECT_EQ(load_parameters(save(p)), p);
  // Bounds above the worst case are refused.
  EXPECT_THROW((void)Parameters::for_matmul(8, 8, 768, 0, Precision::kExact, ShapeBounds{127u * 769, 0, 0}),
               std::invalid_argument);
}

TEST(Precision, CompactErrorHasTheStandardDeviationOfTheFormula) {
  // Decryption error = round(Y + (noise + switch rounding) / Delta) - Y, with noise = sum_j W[j][c] e_j
  // (e ~ CBD(21): variance 10.5) and the switch rounding uniform on a grid of 2^drop q-units:
  // variance 10.5 ||W_c||^2 / Delta^2 + 2^(2e) / 12 + 1/12 in product units.
  const size_t m = 512, k = 768, n = 16;
  auto x = random_ints(m * k, -128, 127, 31);
  auto w = random_ints(k * n, -127, 127, 32);
  const ShapeBounds b = weight_bounds(w, k, n, false);
  Context ctx(Parameters::for_matmul(8, 8, k, 0, Precision::kCompact, b));
  const Parameters& p = ctx.parameters();
  const double delta = std::ldexp(1.0, static_cast<int>(p.log_q - p.log_t));
  const double grid = std::ldexp(1.0, static_cast<int>(p.log_t - p.log_q_down));  // 2^e product units
  const auto want = int_matmul(x, w, m, k, n);
  const auto got = roundtrip(ctx, x, w, m, k, n, Layout::kColumns);
  double predicted = 0, sum = 0, sum2 = 0, max_abs = 0;
  for (size_t c = 0; c < n; ++c) {
    double l2 = 0;
    for (size_t j = 0; j < k; ++j) l2 += double(w[j * n + c]) * w[j * n + c];
    predicted += (10.5 * l2 / (delta * delta) + grid * grid / 12 + 1.0 / 12) / n;
  }
  for (size_t i = 0; i < m * n; ++i) {
    const double err = static_cast<double>(got[i] - want[i]);
    sum += err;
    sum2 += err * err;
    max_abs = std::max(max_abs, std::abs(err));
  }
  const double mean = sum / double(m * n), var = sum2 / double(m * n) - mean * mean;
  EXPECT_NEAR(std::sqrt(var) / std::sqrt(predicted), 1.0, 0.05) << p.to_string();
  EXPECT_LT(std::abs(mean), 4 * std::sqrt(predicted / double(m * n)));
  // And far below the 8-bit input rounding's 0.29 ||W_c||_2 (here ~590 product units).
  EXPECT_LT(std::sqrt(var), 0.4 * 0.29 * b.weight_l2_min) << "sigma " << std::sqrt(var);
  const double bound = double(p.noise_bound()) / delta + grid / 2 + 1;
  EXPECT_LE(max_abs, bound);
}

TEST(Precision, CompactWorstCaseMagnitudesDoNotWrapAround) {
  const size_t m = 20, k = 768, n = 3;
  Context ctx(Parameters::for_matmul(8, 8, k, 0, Precision::kCompact));
  const Parameters& p = ctx.parameters();
  std::vector<int32_t> x(m * k, -128), w(k * n);
  for (size_t j = 0; j < k; ++j) {
    w[j * n + 0] = 127;
    w[j * n + 1] = -127;
    w[j * n + 2] = (j % 2) ? 127 : -127;
  }
  const auto want = int_matmul(x, w, m, k, n);
  ASSERT_EQ(static_cast<uint64_t>(-want[0]), p.product_bound());
  const double bound =
      double(p.noise_bound()) / std::ldexp(1.0, int(p.log_q - p.log_t)) + std::ldexp(0.5, int(p.log_t - p.log_q_down)) + 1;
  for (Layout layout : {Layout::kColumns, Layout::kRows}) {
    const auto got = roundtrip(ctx, x, w, m, k, n, layout);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_LE(std::abs(double(got[i] - want[i])), bound) << i;
  }
}

TEST(Precision, InputsAndWeightsOutsideTheL1BoundsAreRefused) {
  const Parameters lookup = Parameters::for_matmul(2, 8, 64, 0, Precision::kExact, ShapeBounds{0, 1, 0});
  Context ctx(lookup);
  SecretKey key = KeyGenerator(ctx).create_one_time_key();
  Encryptor enc(ctx, key);
  std::vector<int32_t> two_hot(64, 0);
  two_hot[3] = two_hot[9] = 1;
  EXPECT_THROW((void)enc.encrypt(two_hot, 1, 64, Layout::kRows), std::invalid_argument);
  // A one-hot lookup is exact: row r of W.
  auto w = random_ints(64 * 5, -127, 127, 33);
  std::vector<int32_t> one_hot(64, 0);
  one_hot[17] = 1;
  const auto got = roundtrip(ctx, one_hot, w, 1, 64, 5, Layout::kRows);
  for (size_t c = 0; c < 5; ++c) EXPECT_EQ(got[c], w[17 * 5 + c]);

  const Parameters tight = Parameters::for_matmul(8, 8, 64, 0, Precision::kExact, ShapeBounds{1000, 0, 0});
  Evaluator ev{Context(tight)};
  std::vector<int32_t> heavy(64 * 2, 100);  // column L1 6400 > the bound
  EXPECT_THROW((void)ev.make_plan(heavy, 64, 2), std::invalid_argument);
}

}  // namespace
}  // namespace veil::he

namespace veil::he {
namespace {

// The high-level path of the backward pass (transposed plan, scales folded into the gradient) in
// both precisions: compact stays close to exact's error against the float product.
TEST(Precision, CompactTransposedPlanTracksExact) {
  const size_t m = 300, k = 96, n = 64;  // W is k x n; G (m x n) times W^T
  auto rng = testing::test_rng(41);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> w(k * n), g(m * n);
  for (auto& v : w) v = 0.02f * nd(rng);
  for (auto& v : g) v = nd(rng) * (std::abs(nd(rng)) > 2 ? 10.f : 0.1f);
  std::vector<double> want(m * k, 0);
  for (size_t r = 0; r < m; ++r)
    for (size_t j = 0; j < k; ++j)
      for (size_t c = 0; c < n; ++c) want[r * k + j] += double(g[r * n + c]) * w[j * n + c];
  double err[2] = {0, 0}, ref = 0;
  for (int compact = 0; compact < 2; ++compact) {
    QuantizedColumns q = quantize_columns(w, k, n, 8);
    const ShapeBounds b = weight_bounds(q.values, k, n, true);
    const Parameters p = Parameters::for_matmul(8, 8, n, 2048, compact ? Precision::kCompact : Precision::kExact, b);
    HeMatmulServer server(p);
    HeMatmulClient client(p);
    const uint64_t id = server.add_weights(w, k, n, true);
    client.add_plan_info(server.plan_info(id, Layout::kColumns));
    std::unique_ptr<HeMatmulClient::Upload> up;
    auto blob = client.encrypt(g, m, n, up, id);
    auto y = client.decrypt(server.multiply(blob, id), *up);
    double e2 = 0, r2 = 0;
    for (size_t i = 0; i < m * k; ++i) {
      e2 += (y[i] - want[i]) * (y[i] - want[i]);
      r2 += want[i] * want[i];
    }
    err[compact] = std::sqrt(e2);
    ref = std::sqrt(r2);
  }
  std::cout << "relative error: exact " << err[0] / ref << ", compact " << err[1] / ref << "\n";
  EXPECT_LT(err[1], 1.2 * err[0]);
}

}  // namespace
}  // namespace veil::he
