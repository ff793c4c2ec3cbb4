#include "he/util/gemm.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include <chrono>
#include <cstdio>
#include <random>

namespace veil::he::detail {
namespace {

// Test-only deterministic generator (not for keys).
std::vector<uint64_t> random_coeffs(size_t count, int bits, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> v(count);
  for (auto& x : v) x = bits >= 64 ? rng() : (rng() & ((1ull << bits) - 1));
  return v;
}
std::vector<int32_t> random_weights(size_t count, int32_t maxabs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> v(count);
  for (auto& x : v) x = static_cast<int32_t>(static_cast<int64_t>(rng() % (2 * maxabs + 1)) - maxabs);
  return v;
}

// Independent reference in __int128 then reduced mod 2^64.
std::vector<uint64_t> reference(const std::vector<uint64_t>& bt, size_t rows, const std::vector<int32_t>& w, size_t k,
                                size_t n) {
  std::vector<uint64_t> y(n * rows);
  for (size_t c = 0; c < n; ++c)
    for (size_t i = 0; i < rows; ++i) {
      __int128 acc = 0;
      for (size_t j = 0; j < k; ++j) acc += (__int128)bt[j * rows + i] * w[j * n + c];
      y[c * rows + i] = static_cast<uint64_t>(acc);
    }
  return y;
}

struct Shape {
  size_t rows, k, n;
  int bits;
  int32_t maxabs;
};

TEST(Gemm, MatchesInt128ReferenceAcrossShapesLimbsAndDigits) {
  const Shape shapes[] = {{1, 1, 1, 54, 127},   {17, 5, 3, 54, 127},   {33, 67, 10, 8, 127},
                          {64, 129, 7, 16, 127}, {16, 64, 16, 64, 127}, {50, 33, 9, 54, 32767},
                          {31, 9, 5, 40, 255},   {5, 300, 40, 30, 1},   {2, 70, 23, 24, 32639}};
  uint64_t seed = 1;
  for (const auto& s : shapes) {
    auto bt = random_coeffs(s.k * s.rows, s.bits, seed++);
    auto w = random_weights(s.k * s.n, s.maxabs, seed++);
    auto ref = reference(bt, s.rows, w, s.k, s.n);
    const int limbs = (s.bits + 7) / 8;
    for (GemmKernel kernel : {GemmKernel::kVnni, GemmKernel::kAmx}) {
      auto packed = pack_weights(w.data(), s.k, s.n, limbs, kernel);
      for (int threads : {1, 2, 3}) {
        for (bool portable : {false, true}) {
          std::vector<uint64_t> y(s.n * s.rows, 0xdeadbeef);
          gemm_mod2k(bt.data(), s.rows, packed, y.data(), threads, portable);
          ASSERT_EQ(y, ref) << "rows=" << s.rows << " k=" << s.k << " n=" << s.n << " bits=" << s.bits
                            << " threads=" << threads << " portable=" << portable
                            << " kernel=" << static_cast<int>(kernel);
        }
      }
    }
  }
}

TEST(Gemm, WorstCaseMagnitudesDoNotOverflowInt32Lanes) {
  // Every limb 255 and every weight -128/-127 or +127 at the largest inner dimension.
  const size_t rows = 16, k = 65535, n = 2;
  std::vector<uint64_t> bt(k * rows, ~0ull);
  std::vector<int32_t> w(k * n);
  for (size_t j = 0; j < k; ++j) {
    w[j * n] = -127;
    w[j * n + 1] = 127;
  }
  const auto ref = reference(bt, rows, w, k, n);
  for (GemmKernel kernel : {GemmKernel::kVnni, GemmKernel::kAmx}) {
    auto packed = pack_weights(w.data(), k, n, 8, kernel);
    std::vector<uint64_t> y(n * rows);
    gemm_mod2k(bt.data(), rows, packed, y.data(), 2);
    EXPECT_EQ(y, ref) << "kernel " << static_cast<int>(kernel);
  }
}

TEST(Gemm, KernelsAvailableOnThisCpu) {
  // Informational: which fast kernels the tests above exercised (an unavailable one falls back to
  // the portable path, which is then what they compared).
  std::cout << "VNNI " << gemm_has_vnni() << ", AMX " << gemm_has_amx() << "\n";
  if (gemm_has_amx() && std::getenv("VEIL_HE_GEMM") == nullptr) {
    EXPECT_EQ(best_gemm_kernel(), GemmKernel::kAmx);
  }
}

TEST(Gemm, RejectsBadWeightsAndSizes) {
  std::vector<int32_t> w = {1, 2, 40000, 3};
  EXPECT_THROW((void)pack_weights(w.data(), 2, 2, 7), std::invalid_argument);
  EXPECT_THROW((void)pack_weights(w.data(), 0, 2, 7), std::invalid_argument);
  EXPECT_THROW((void)pack_weights(w.data(), 2, 2, 9), std::invalid_argument);
}

}  // namespace
}  // namespace veil::he::detail
