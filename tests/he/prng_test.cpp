#include "he/util/prng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace veil::he::detail {
namespace {

Seed fixed_seed(uint8_t v) {
  Seed s;
  s.fill(v);
  return s;
}

TEST(Prng, DeterministicPerSeedDomainAndIndex) {
  Prg a(fixed_seed(1), Domain::kTest, 5), b(fixed_seed(1), Domain::kTest, 5), c(fixed_seed(1), Domain::kTest, 6),
      d(fixed_seed(1), Domain::kCrsUniform, 5);
  const uint64_t va = a.next_u64();
  EXPECT_EQ(va, b.next_u64());
  EXPECT_NE(va, c.next_u64());
  EXPECT_NE(va, d.next_u64());
  EXPECT_NE(random_seed(), random_seed());
}

TEST(Prng, UniformRespectsModulus) {
  Prg prg(fixed_seed(2), Domain::kTest, 0);
  std::vector<uint64_t> v(10000);
  sample_uniform(prg, 54, v);
  uint64_t top = 0;
  for (uint64_t x : v) {
    ASSERT_LT(x, 1ull << 54);
    top += x >> 53;
  }
  EXPECT_NEAR(static_cast<double>(top) / v.size(), 0.5, 0.03);
}

TEST(Prng, TernaryIsUniformOverMinusOneZeroOne) {
  Prg prg(fixed_seed(3), Domain::kTest, 0);
  const size_t n = 300000;
  std::vector<int8_t> v(n);
  sample_ternary(prg, v);
  double count[3] = {0, 0, 0};
  for (int8_t x : v) {
    ASSERT_TRUE(x >= -1 && x <= 1);
    count[x + 1] += 1;
  }
  // Chi-square with 2 degrees of freedom; 13.8 is the 0.1% critical value.
  double chi2 = 0;
  for (double c : count) chi2 += (c - n / 3.0) * (c - n / 3.0) / (n / 3.0);
  EXPECT_LT(chi2, 13.8);
}

TEST(Prng, ErrorIsCentredBinomial21WithSigmaAtLeast3Point2AndBounded) {
  Prg prg(fixed_seed(4), Domain::kTest, 0);
  const size_t n = 1000000;
  std::vector<int8_t> v(n);
  sample_error(prg, v);
  double sum = 0, sq = 0, count[2 * kErrorBound + 1] = {};
  for (int8_t x : v) {
    ASSERT_LE(std::abs(x), kErrorBound);
    sum += x;
    sq += x * x;
    count[x + kErrorBound] += 1;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 10.5, 0.1);  // eta / 2
  EXPECT_GE(std::sqrt(10.5), 3.2);
  EXPECT_NEAR(kErrorSigma * kErrorSigma, 10.5, 1e-9);
  // Independent reference: X + 21 ~ Binomial(42, 1/2), P(X = x) = C(42, x + 21) / 2^42 (computed
  // here with lgamma, not with the sampler's popcounts). Chi-square over |x| <= 9 (expected counts
  // >= 40) plus one tail bin; 39.3 is the 0.1% critical value at 20 degrees of freedom.
  auto pmf = [](int x) {
    return std::exp(std::lgamma(43.0) - std::lgamma(x + 22.0) - std::lgamma(22.0 - x) - 42 * std::log(2.0));
  };
  double chi2 = 0, tail_obs = n, tail_exp = n;
  for (int x = -9; x <= 9; ++x) {
    const double e = n * pmf(x), o = count[x + kErrorBound];
    chi2 += (o - e) * (o - e) / e;
    tail_obs -= o;
    tail_exp -= e;
  }
  chi2 += (tail_obs - tail_exp) * (tail_obs - tail_exp) / tail_exp;
  EXPECT_LT(chi2, 39.3);
  // Deterministic per (seed, domain, index), as every expansion.
  Prg a(fixed_seed(5), Domain::kTest, 1), b(fixed_seed(5), Domain::kTest, 1);
  std::vector<int8_t> va(1000), vb(1000);
  sample_error(a, va);
  sample_error(b, vb);
  EXPECT_EQ(va, vb);
}

}  // namespace
}  // namespace veil::he::detail
