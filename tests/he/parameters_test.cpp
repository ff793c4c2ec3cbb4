#include "veil/he/parameters.h"

#include <gtest/gtest.h>

#include "veil/he/context.h"

namespace veil::he {
namespace {

// The 2024 guidelines' table, and the 2018 standard's beside it.
TEST(Parameters, SecurityTableMatchesTheStandard) {
  // The 2024 HE security guidelines (ePrint 2024/463), 128-bit classical, ternary secret.
  EXPECT_EQ(max_log_q_128(1024), 26);
  EXPECT_EQ(max_log_q_128(2048), 53);
  EXPECT_EQ(max_log_q_128(4096), 106);
  EXPECT_EQ(max_log_q_128(8192), 214);
  EXPECT_EQ(max_log_q_128(16384), 430);
  EXPECT_EQ(max_log_q_128(32768), 868);
  EXPECT_EQ(max_log_q_128(512), 0);
  // The 2018 HomomorphicEncryption.org standard, Table 1 (kept for reports only).
  EXPECT_EQ(max_log_q_128_standard_2018(2048), 54);
  EXPECT_EQ(max_log_q_128_standard_2018(32768), 881);
  for (size_t n = 1024; n <= 32768; n *= 2) EXPECT_LT(max_log_q_128(n), max_log_q_128_standard_2018(n)) << n;
}

TEST(Parameters, DerivedFromWorstCaseBounds) {
  const Parameters p = Parameters::for_matmul(8, 8, 4096);
  EXPECT_EQ(p.poly_degree, 2048u);
  EXPECT_EQ(p.log_t, 27u);  // 128 * 127 * 4096 < 2^26
  EXPECT_EQ(p.log_q, 52u);  // Delta = 2^25: 3/8 Delta > 19 * 127 * 4096
  EXPECT_EQ(p.log_q_down, 29u);
  EXPECT_LT(p.product_bound(), 1ull << (p.log_t - 1));
  EXPECT_GT(3 * ((1ull << (p.log_q - p.log_t)) / 8), p.noise_bound());
  // Twice the inner dimension needs log q = 54 (Delta = 2^26, log t = 28): above 53, so N = 4096
  // (it fitted N = 2048 under the 2018 table).
  const Parameters wide = Parameters::for_matmul(8, 8, 8192);
  EXPECT_EQ(wide.log_q, 54u);
  EXPECT_EQ(wide.poly_degree, 4096u);
  // Two more input bits no longer fit N = 2048 either.
  EXPECT_EQ(Parameters::for_matmul(10, 8, 4096).poly_degree, 4096u);
  EXPECT_EQ(Parameters::for_matmul(4, 4, 16).poly_degree, 1024u);
  EXPECT_EQ(Parameters::for_matmul(8, 8, 768, 4096).poly_degree, 4096u);
}

TEST(Parameters, RefusesInsecureOrUnsupportedSets) {
  EXPECT_THROW((void)Parameters::custom(1024, 54, 8, 8, 8192, false), std::invalid_argument);  // 54 > 26
  EXPECT_THROW((void)Parameters::custom(2048, 55, 8, 8, 8192, false), std::invalid_argument);  // 55 > 53
  EXPECT_THROW((void)Parameters::custom(2048, 54, 8, 8, 8192, false), std::invalid_argument);  // 54 > 53 (2018: allowed)
  EXPECT_NO_THROW((void)Parameters::custom(1024, 54, 8, 8, 8192, true));                      // test-only flag
  EXPECT_THROW((void)Parameters::custom(2048, 50, 8, 8, 8192, false), std::invalid_argument);  // noise too big
  EXPECT_THROW((void)Parameters::for_matmul(16, 16, 8192), std::invalid_argument);             // needs > 64 bits
  EXPECT_THROW((void)Parameters::for_matmul(1, 8, 10), std::invalid_argument);
  EXPECT_THROW((void)Parameters::for_matmul(8, 8, 0), std::invalid_argument);
  EXPECT_THROW((void)Parameters::for_matmul(8, 8, 70000), std::invalid_argument);
  Parameters p = Parameters::for_matmul(8, 8, 100);
  p.poly_degree = 1000;
  EXPECT_THROW(Context{p}, std::invalid_argument);
}

TEST(Parameters, HashCoversEveryField) {
  const Parameters p = Parameters::for_matmul(8, 8, 768);
  Parameters q = p;
  EXPECT_EQ(p.hash(), q.hash());
  q.crs_seed[0] ^= 1;
  EXPECT_NE(p.hash(), q.hash());
  q = p;
  q.max_inner_dim = 767;
  EXPECT_NE(p.hash(), q.hash());
  q = p;
  q.allow_insecure = true;
  EXPECT_NE(p.hash(), q.hash());
}

}  // namespace
}  // namespace veil::he
