#include "he/util/ntt.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "he/util/modarith.h"
#include "he/util/ntt_ifma.h"
#include "veil/util/check.h"

namespace veil::he::detail {

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t sp : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
    if (n % sp == 0) return n == sp;
  }
  uint64_t d = n - 1;
  int s = 0;
  while ((d & 1) == 0) {
    d >>= 1;
    ++s;
  }
  // These bases are deterministic for all n < 2^64.
  for (uint64_t a : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
    uint64_t x = pow_mod(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (int r = 1; r < s; ++r) {
      x = mul_mod(x, x, n);
      if (x == n - 1) {
        composite = false;
        break;
      }
    }
    if (composite) return false;
  }
  return true;
}

namespace {
uint32_t bit_reverse(uint32_t x, int bits) {
  uint32_t r = 0;
  for (int i = 0; i < bits; ++i) r |= ((x >> i) & 1u) << (bits - 1 - i);
  return r;
}
uint64_t shoup52(uint64_t w, uint64_t p) { return static_cast<uint64_t>(((u128)w << 52) / p); }
// VEIL_HE_SCALAR_NTT=1 forces the scalar transforms (A/B measurements).
bool vector_ntt_allowed() {
  static const bool ok = [] {
    const char* e = std::getenv("VEIL_HE_SCALAR_NTT");
    return !(e && e[0] == '1') && NttIfma::available();
  }();
  return ok;
}
}  // namespace

NttTables::NttTables(size_t n, uint64_t p) : n_(n), log_n_(0), p_(p) {
  VEIL_CHECK_ARG(n >= 2 && (n & (n - 1)) == 0, "NTT size ", n, " is not a power of two >= 2");
  VEIL_CHECK_ARG(p < (1ull << 62) && (p - 1) % (2 * n) == 0 && is_prime(p), "NTT modulus ", p,
                 " is not a prime = 1 mod ", 2 * n, " below 2^62");
  while ((size_t{1} << log_n_) < n) ++log_n_;
  uint64_t psi = 0;
  for (uint64_t g = 2; g < 1000; ++g) {
    uint64_t cand = pow_mod(g, (p - 1) / (2 * n), p);
    if (pow_mod(cand, n, p) == p - 1) {
      psi = cand;
      break;
    }
  }
  VEIL_CHECK_STATE(psi != 0, "no primitive 2N-th root of unity found modulo ", p);
  uint64_t ipsi = inv_mod(psi, p);
  psi_.resize(n);
  ipsi_.resize(n);
  psi_shoup_.resize(n);
  ipsi_shoup_.resize(n);
  uint64_t pw = 1, ipw = 1;
  std::vector<uint64_t> pows(n), ipows(n);
  for (size_t i = 0; i < n; ++i) {
    pows[i] = pw;
    ipows[i] = ipw;
    pw = mul_mod(pw, psi, p);
    ipw = mul_mod(ipw, ipsi, p);
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t r = bit_reverse(static_cast<uint32_t>(i), log_n_);
    psi_[i] = pows[r];
    ipsi_[i] = ipows[r];
    psi_shoup_[i] = shoup_precompute(psi_[i], p);
    ipsi_shoup_[i] = shoup_precompute(ipsi_[i], p);
  }
  n_inv_ = inv_mod(n % p, p);
  n_inv_shoup_ = shoup_precompute(n_inv_, p);
  ifma_ = p < (1ull << 50) && n >= 16 && vector_ntt_allowed();
  if (!ifma_) return;
  psi_shoup52_.resize(n);
  ipsi_shoup52_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    psi_shoup52_[i] = shoup52(psi_[i], p);
    ipsi_shoup52_[i] = shoup52(ipsi_[i], p);
  }
  n_inv_shoup52_ = shoup52(n_inv_, p);
  for (int s = 0; s < 3; ++s) {  // t = 4, 2, 1: stage with m = N / (2t) groups
    const size_t t = size_t{4} >> s, m = n / (2 * t);
    for (auto* v : {&fwd_small_[s], &fwd_small_shoup52_[s], &inv_small_[s], &inv_small_shoup52_[s]}) v->resize(n / 2);
    for (size_t u = 0; u < n / 2; ++u) {
      fwd_small_[s][u] = psi_[m + u / t];
      fwd_small_shoup52_[s][u] = psi_shoup52_[m + u / t];
      inv_small_[s][u] = ipsi_[m + u / t];
      inv_small_shoup52_[s][u] = ipsi_shoup52_[m + u / t];
    }
  }
}

void NttTables::forward(uint64_t* a) const {
  if (ifma_) NttIfma::forward(*this, a);
  else forward_scalar(a);
}

void NttTables::inverse(uint64_t* a) const {
  if (ifma_) NttIfma::inverse(*this, a);
  else inverse_scalar(a);
}

void NttTables::forward_scalar(uint64_t* a) const {
  const uint64_t p = p_;
  size_t t = n_;
  for (size_t m = 1; m < n_; m <<= 1) {
    t >>= 1;
    for (size_t i = 0; i < m; ++i) {
      const uint64_t w = psi_[m + i], ws = psi_shoup_[m + i];
      uint64_t* x = a + 2 * i * t;
      uint64_t* y = x + t;
      for (size_t j = 0; j < t; ++j) {
        uint64_t u = x[j];
        uint64_t v = mul_shoup(y[j], w, ws, p);
        x[j] = add_mod(u, v, p);
        y[j] = sub_mod(u, v, p);
      }
    }
  }
}

void NttTables::inverse_scalar(uint64_t* a) const {
  const uint64_t p = p_;
  size_t t = 1;
  for (size_t m = n_; m > 1; m >>= 1) {
    size_t h = m >> 1;
    for (size_t i = 0; i < h; ++i) {
      const uint64_t w = ipsi_[h + i], ws = ipsi_shoup_[h + i];
      uint64_t* x = a + 2 * i * t;
      uint64_t* y = x + t;
      for (size_t j = 0; j < t; ++j) {
        uint64_t u = x[j], v = y[j];
        x[j] = add_mod(u, v, p);
        y[j] = mul_shoup(sub_mod(u, v, p), w, ws, p);
      }
    }
    t <<= 1;
  }
  for (size_t j = 0; j < n_; ++j) a[j] = mul_shoup(a[j], n_inv_, n_inv_shoup_, p);
}

std::vector<uint64_t> crt_primes(size_t count) {
  static std::mutex mu;
  static std::vector<uint64_t> found;
  std::lock_guard<std::mutex> lock(mu);
  const uint64_t step = 1ull << 17;
  uint64_t c = ((1ull << 50) - 1) / step;
  while (found.size() < count) {
    uint64_t p = c * step + 1;
    if (found.empty() || p < found.back()) {
      if (is_prime(p)) found.push_back(p);
    }
    --c;
  }
  return {found.begin(), found.begin() + static_cast<std::ptrdiff_t>(count)};
}

NegacyclicMultiplier::NegacyclicMultiplier(size_t n)
    : n_(n), t1_(n, crt_primes(2)[0]), t2_(n, crt_primes(2)[1]) {
  uint64_t p1 = t1_.modulus(), p2 = t2_.modulus();
  p1_inv_mod_p2_ = inv_mod(p1 % p2, p2);
  p1_inv_shoup_ = shoup_precompute(p1_inv_mod_p2_, p2);
  ifma_ = t1_.vectorized() && t2_.vectorized();
  VEIL_CHECK_STATE(p2 < p1 && p1 < 2 * p2, "CRT primes out of order");  // NttIfma::crt assumes it
}

void NegacyclicMultiplier::transform_small(std::span<const int8_t> s, std::vector<uint64_t>& out) const {
  VEIL_CHECK_ARG(s.size() == n_, "small polynomial has ", s.size(), " coefficients, expected ", n_);
  out.resize(4 * n_);
  const uint64_t p1 = t1_.modulus(), p2 = t2_.modulus();
  for (size_t i = 0; i < n_; ++i) {
    int64_t v = s[i];
    out[i] = v >= 0 ? static_cast<uint64_t>(v) : p1 - static_cast<uint64_t>(-v);
    out[n_ + i] = v >= 0 ? static_cast<uint64_t>(v) : p2 - static_cast<uint64_t>(-v);
  }
  t1_.forward(out.data());
  t2_.forward(out.data() + n_);
  // Shoup companions: the pointwise products of multiply() then cost two multiplications each
  // instead of a 128-bit division.
  for (size_t i = 0; i < n_; ++i) {
    out[2 * n_ + i] = ifma_ ? shoup52(out[i], p1) : shoup_precompute(out[i], p1);
    out[3 * n_ + i] = ifma_ ? shoup52(out[n_ + i], p2) : shoup_precompute(out[n_ + i], p2);
  }
}

void NegacyclicMultiplier::transform(const uint64_t* a, uint64_t* out) const {
  const uint64_t p1 = t1_.modulus(), p2 = t2_.modulus();
  const uint64_t r1 = shoup_precompute(1, p1), r2 = shoup_precompute(1, p2);
  uint64_t* x1 = out;
  uint64_t* x2 = out + n_;
  if (ifma_) {
    NttIfma::reduce(a, x1, n_, p1);
    NttIfma::reduce(a, x2, n_, p2);
  } else {
    for (size_t i = 0; i < n_; ++i) {
      x1[i] = mul_shoup(a[i], 1, r1, p1);
      x2[i] = mul_shoup(a[i], 1, r2, p2);
    }
  }
  t1_.forward(x1);
  t2_.forward(x2);
}

void NegacyclicMultiplier::multiply(const uint64_t* a, const std::vector<uint64_t>& s_ntt, uint64_t* c,
                                    uint64_t* scratch) const {
  transform(a, scratch);
  finish(scratch, s_ntt, c);
}

void NegacyclicMultiplier::multiply_transformed(const uint64_t* a_ntt, const std::vector<uint64_t>& s_ntt,
                                                uint64_t* c, uint64_t* scratch) const {
  std::copy(a_ntt, a_ntt + 2 * n_, scratch);
  finish(scratch, s_ntt, c);
}

void NegacyclicMultiplier::finish(uint64_t* x, const std::vector<uint64_t>& s_ntt, uint64_t* c) const {
  const uint64_t p1 = t1_.modulus(), p2 = t2_.modulus();
  uint64_t* x1 = x;
  uint64_t* x2 = x + n_;
  VEIL_CHECK_ARG(s_ntt.size() == 4 * n_, "s_ntt must come from transform_small (", 4 * n_, " words)");
  const uint64_t* s1 = s_ntt.data();
  const uint64_t* s2 = s1 + n_;
  const uint64_t* s1_shoup = s2 + n_;
  const uint64_t* s2_shoup = s1_shoup + n_;
  if (ifma_) {
    NttIfma::pointwise(x1, s1, s1_shoup, x1, n_, p1);
    NttIfma::pointwise(x2, s2, s2_shoup, x2, n_, p2);
  } else {
    for (size_t i = 0; i < n_; ++i) {
      x1[i] = mul_shoup(x1[i], s1[i], s1_shoup[i], p1);
      x2[i] = mul_shoup(x2[i], s2[i], s2_shoup[i], p2);
    }
  }
  t1_.inverse(x1);
  t2_.inverse(x2);
  // CRT: x = x1 + p1 * ((x2 - x1) / p1 mod p2) in [0, p1 p2), then centred and reduced mod 2^64.
  if (ifma_) {
    NttIfma::crt(x1, x2, c, n_, p1, p2, p1_inv_mod_p2_);
    return;
  }
  const u128 big = (u128)p1 * p2;
  const u128 half = big >> 1;
  for (size_t i = 0; i < n_; ++i) {
    uint64_t a1 = x1[i] >= p2 ? x1[i] - p2 : x1[i];
    uint64_t d = sub_mod(x2[i], a1, p2);
    uint64_t v = mul_shoup(d, p1_inv_mod_p2_, p1_inv_shoup_, p2);
    u128 xv = (u128)x1[i] + (u128)p1 * v;
    uint64_t lo = static_cast<uint64_t>(xv);
    c[i] = xv > half ? lo - static_cast<uint64_t>(big) : lo;
  }
}

void negacyclic_naive(const uint64_t* a, const int64_t* b, uint64_t* c, size_t n) {
  std::vector<uint64_t> acc(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      uint64_t prod = a[i] * static_cast<uint64_t>(b[j]);
      size_t k = i + j;
      if (k < n) acc[k] += prod;
      else acc[k - n] -= prod;
    }
  }
  for (size_t i = 0; i < n; ++i) c[i] = acc[i];
}

}  // namespace veil::he::detail
