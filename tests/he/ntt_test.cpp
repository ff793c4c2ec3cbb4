#include "he/util/ntt.h"

#include <gtest/gtest.h>

#include "he/util/modarith.h"
#include "he_test_util.h"

namespace veil::he::detail {
namespace {

TEST(ModArith, EdgeCases) {
  const uint64_t p = crt_primes(1)[0];
  EXPECT_TRUE(is_prime(p));
  EXPECT_EQ((p - 1) % (1ull << 17), 0u);
  EXPECT_FALSE(is_prime(1));
  EXPECT_TRUE(is_prime(2));
  EXPECT_FALSE(is_prime(3215031751ull));             // strong pseudoprime to bases 2, 3, 5, 7
  EXPECT_TRUE(is_prime(18446744073709551557ull));    // largest 64-bit prime
  EXPECT_EQ(add_mod(p - 1, p - 1, p), p - 2);
  EXPECT_EQ(sub_mod(0, p - 1, p), 1u);
  EXPECT_EQ(mul_mod(p - 1, p - 1, p), 1u);
  EXPECT_EQ(mul_mod(inv_mod(12345, p), 12345, p), 1u);
  for (uint64_t w : std::initializer_list<uint64_t>{0, 1, 2, p - 1, p / 2}) {
    const uint64_t ws = shoup_precompute(w, p);
    for (uint64_t x : std::initializer_list<uint64_t>{0, 1, p - 1, p, ~0ull, 0x8000000000000000ull}) {
      EXPECT_EQ(mul_shoup(x, w, ws, p), static_cast<uint64_t>((u128)x * w % p)) << x << " * " << w;
    }
  }
}

TEST(Ntt, ForwardInverseIsIdentityAndMatchesNaiveNegacyclicProduct) {
  for (size_t n : {16u, 256u, 2048u}) {
    NegacyclicMultiplier mul(n);
    auto rng = veil::he::testing::test_rng(n);
    std::vector<uint64_t> a(n);
    for (auto& v : a) v = rng();
    a[0] = ~0ull;  // extreme coefficients
    a[n - 1] = 0x8000000000000000ull;
    std::vector<int8_t> s(n);
    std::vector<int64_t> s64(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
      s64[i] = s[i];
    }
    std::vector<uint64_t> s_ntt, c(n), ref(n), scratch(2 * n);
    mul.transform_small(s, s_ntt);
    mul.multiply(a.data(), s_ntt, c.data(), scratch.data());
    negacyclic_naive(a.data(), s64.data(), ref.data(), n);
    EXPECT_EQ(c, ref) << "n=" << n;
    // All-ones (worst-case magnitude) secret.
    std::fill(s.begin(), s.end(), int8_t{-1});
    std::fill(s64.begin(), s64.end(), -1);
    std::fill(a.begin(), a.end(), ~0ull);
    mul.transform_small(s, s_ntt);
    mul.multiply(a.data(), s_ntt, c.data(), scratch.data());
    negacyclic_naive(a.data(), s64.data(), ref.data(), n);
    EXPECT_EQ(c, ref) << "all-extreme n=" << n;
  }
  NttTables t(64, crt_primes(1)[0]);
  std::vector<uint64_t> x(64), y;
  for (size_t i = 0; i < 64; ++i) x[i] = (i * 7919) % t.modulus();
  y = x;
  t.forward(y.data());
  EXPECT_NE(y, x);
  t.inverse(y.data());
  EXPECT_EQ(y, x);
}

TEST(Ntt, VectorKernelsEqualTheScalarTransforms) {
  const auto primes = crt_primes(2);
  for (uint64_t p : primes) EXPECT_LT(p, 1ull << 50);
  if (!NttTables(2048, primes[0]).vectorized()) GTEST_SKIP() << "no AVX-512 IFMA on this CPU (or VEIL_HE_SCALAR_NTT=1)";
  for (size_t n : {16u, 32u, 64u, 1024u, 2048u, 4096u}) {
    for (uint64_t p : primes) {
      NttTables t(n, p);
      ASSERT_TRUE(t.vectorized());
      auto rng = veil::he::testing::test_rng(n + p);
      for (int round = 0; round < 3; ++round) {
        std::vector<uint64_t> x(n);
        for (auto& v : x) v = round == 2 ? p - 1 : rng() % p;  // round 2: every coefficient maximal
        if (round == 1) x[0] = 0, x[n - 1] = p - 1;
        std::vector<uint64_t> v = x, r = x;
        t.forward(v.data());
        t.forward_scalar(r.data());
        ASSERT_EQ(v, r) << "forward n=" << n << " p=" << p << " round " << round;
        for (uint64_t c : v) ASSERT_LT(c, p);
        t.inverse(v.data());
        t.inverse_scalar(r.data());
        ASSERT_EQ(v, r) << "inverse n=" << n << " p=" << p;
        ASSERT_EQ(v, x) << "inverse(forward(x)) != x, n=" << n;
        // Inverse of arbitrary canonical residues (what the pointwise products feed it).
        v = x;
        r = x;
        t.inverse(v.data());
        t.inverse_scalar(r.data());
        ASSERT_EQ(v, r) << "inverse of arbitrary input, n=" << n;
      }
    }
  }
}

TEST(Ntt, RejectsUnsupportedSizes) {
  EXPECT_THROW(NttTables(48, crt_primes(1)[0]), std::invalid_argument);
  EXPECT_THROW(NttTables(64, 97), std::invalid_argument);  // 97 != 1 mod 128
}

}  // namespace
}  // namespace veil::he::detail
