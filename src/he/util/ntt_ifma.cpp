#include "he/util/ntt_ifma.h"

#include "he/util/ntt.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// GCC 12 flags _mm512_min_epu64's deliberately undefined pass-through operand.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace veil::he::detail {

#if defined(__x86_64__)
#define VEIL_IFMA __attribute__((target("avx512f,avx512ifma")))

namespace {

// x mod p for x in [0, 2p): min(x, x - p) as unsigned (x - p wraps above x when x < p).
VEIL_IFMA inline __m512i reduce_once(__m512i x, __m512i p) { return _mm512_min_epu64(x, _mm512_sub_epi64(x, p)); }

// y * w mod p in [0, 2p) for y < 2^52, w < p < 2^50, ws = floor(w * 2^52 / p) (Shoup, beta = 2^52).
VEIL_IFMA inline __m512i mul_lazy(__m512i y, __m512i w, __m512i ws, __m512i p, __m512i mask52) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i q = _mm512_madd52hi_epu64(zero, y, ws);
  const __m512i wy = _mm512_madd52lo_epu64(zero, y, w);
  const __m512i qp = _mm512_madd52lo_epu64(zero, q, p);
  // The exact y*w - q*p lies in [0, 2p) subset [0, 2^52): its value mod 2^52 is itself.
  return _mm512_and_si512(_mm512_sub_epi64(wy, qp), mask52);
}

// Forward (Cooley-Tukey) butterfly on x, y in [0, 4p): x' = x + wy, y' = x - wy, outputs in [0, 4p).
VEIL_IFMA inline void fwd_bf(__m512i& x, __m512i& y, __m512i w, __m512i ws, __m512i p, __m512i p2, __m512i mask52) {
  const __m512i xr = reduce_once(x, p2);  // [0, 2p)
  const __m512i t = mul_lazy(y, w, ws, p, mask52);
  x = _mm512_add_epi64(xr, t);
  y = _mm512_sub_epi64(_mm512_add_epi64(xr, p2), t);
}

// Inverse (Gentleman-Sande) butterfly on x, y in [0, 2p): x' = x + y, y' = (x - y) w, outputs in [0, 2p).
VEIL_IFMA inline void inv_bf(__m512i& x, __m512i& y, __m512i w, __m512i ws, __m512i p, __m512i p2, __m512i mask52) {
  const __m512i s = reduce_once(_mm512_add_epi64(x, y), p2);
  const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(x, p2), y);  // [0, 4p) < 2^52
  y = mul_lazy(d, w, ws, p, mask52);
  x = s;
}

// Lane permutations for the stages with t = 4, 2, 1 (index into the concatenation of the two
// vectors holding 16 consecutive coefficients): gather[t] picks the x (first 8) and y (next 8)
// operands of the 8 butterflies in order; scatter[t] puts them back.
struct SmallStagePerms {
  alignas(64) uint64_t gx[3][8], gy[3][8], sa[3][8], sb[3][8];
  SmallStagePerms() {
    for (int s = 0; s < 3; ++s) {
      const int t = 4 >> s;
      int where[16];  // element -> operand slot (0..7 x lanes, 8..15 y lanes)
      for (int u = 0; u < 8; ++u) {
        const int e = (u / t) * 2 * t + u % t;
        gx[s][u] = static_cast<uint64_t>(e);
        gy[s][u] = static_cast<uint64_t>(e + t);
        where[e] = u;
        where[e + t] = 8 + u;
      }
      for (int e = 0; e < 8; ++e) {
        sa[s][e] = static_cast<uint64_t>(where[e]);
        sb[s][e] = static_cast<uint64_t>(where[8 + e]);
      }
    }
  }
};
const SmallStagePerms& perms() {
  static const SmallStagePerms p;
  return p;
}

}  // namespace

bool NttIfma::available() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
  return ok;
}

VEIL_IFMA void NttIfma::forward(const NttTables& tb, uint64_t* a) {
  const size_t n = tb.n_;
  const __m512i p = _mm512_set1_epi64(static_cast<long long>(tb.p_));
  const __m512i p2 = _mm512_set1_epi64(static_cast<long long>(2 * tb.p_));
  const __m512i mask52 = _mm512_set1_epi64((1ll << 52) - 1);
  size_t t = n;
  size_t m = 1;
  for (; m < n && (t >> 1) >= 8; m <<= 1) {
    t >>= 1;
    for (size_t i = 0; i < m; ++i) {
      const __m512i w = _mm512_set1_epi64(static_cast<long long>(tb.psi_[m + i]));
      const __m512i ws = _mm512_set1_epi64(static_cast<long long>(tb.psi_shoup52_[m + i]));
      uint64_t* x = a + 2 * i * t;
      uint64_t* y = x + t;
      for (size_t j = 0; j < t; j += 8) {
        __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
        fwd_bf(vx, vy, w, ws, p, p2, mask52);
        _mm512_storeu_si512(x + j, vx);
        _mm512_storeu_si512(y + j, vy);
      }
    }
  }
  const SmallStagePerms& pm = perms();
  for (int s = 0; m < n; m <<= 1, ++s) {  // t = 4, 2, 1
    const __m512i gx = _mm512_load_si512(pm.gx[s]), gy = _mm512_load_si512(pm.gy[s]);
    const __m512i sa = _mm512_load_si512(pm.sa[s]), sb = _mm512_load_si512(pm.sb[s]);
    const uint64_t* wt = tb.fwd_small_[s].data();
    const uint64_t* wst = tb.fwd_small_shoup52_[s].data();
    const bool last = m * 2 == n;
    for (size_t b = 0; b < n; b += 16) {
      const __m512i lo = _mm512_loadu_si512(a + b), hi = _mm512_loadu_si512(a + b + 8);
      __m512i vx = _mm512_permutex2var_epi64(lo, gx, hi), vy = _mm512_permutex2var_epi64(lo, gy, hi);
      fwd_bf(vx, vy, _mm512_loadu_si512(wt + b / 2), _mm512_loadu_si512(wst + b / 2), p, p2, mask52);
      if (last) {  // [0, 4p) -> [0, p)
        vx = reduce_once(reduce_once(vx, p2), p);
        vy = reduce_once(reduce_once(vy, p2), p);
      }
      _mm512_storeu_si512(a + b, _mm512_permutex2var_epi64(vx, sa, vy));
      _mm512_storeu_si512(a + b + 8, _mm512_permutex2var_epi64(vx, sb, vy));
    }
  }
}

VEIL_IFMA void NttIfma::inverse(const NttTables& tb, uint64_t* a) {
  const size_t n = tb.n_;
  const __m512i p = _mm512_set1_epi64(static_cast<long long>(tb.p_));
  const __m512i p2 = _mm512_set1_epi64(static_cast<long long>(2 * tb.p_));
  const __m512i mask52 = _mm512_set1_epi64((1ll << 52) - 1);
  const SmallStagePerms& pm = perms();
  size_t m = n, t = 1;
  for (int s = 2; s >= 0; --s, m >>= 1, t <<= 1) {  // t = 1, 2, 4
    const __m512i gx = _mm512_load_si512(pm.gx[s]), gy = _mm512_load_si512(pm.gy[s]);
    const __m512i sa = _mm512_load_si512(pm.sa[s]), sb = _mm512_load_si512(pm.sb[s]);
    const uint64_t* wt = tb.inv_small_[s].data();
    const uint64_t* wst = tb.inv_small_shoup52_[s].data();
    for (size_t b = 0; b < n; b += 16) {
      const __m512i lo = _mm512_loadu_si512(a + b), hi = _mm512_loadu_si512(a + b + 8);
      __m512i vx = _mm512_permutex2var_epi64(lo, gx, hi), vy = _mm512_permutex2var_epi64(lo, gy, hi);
      inv_bf(vx, vy, _mm512_loadu_si512(wt + b / 2), _mm512_loadu_si512(wst + b / 2), p, p2, mask52);
      _mm512_storeu_si512(a + b, _mm512_permutex2var_epi64(vx, sa, vy));
      _mm512_storeu_si512(a + b + 8, _mm512_permutex2var_epi64(vx, sb, vy));
    }
  }
  for (; m > 1; m >>= 1, t <<= 1) {
    const size_t h = m >> 1;
    for (size_t i = 0; i < h; ++i) {
      const __m512i w = _mm512_set1_epi64(static_cast<long long>(tb.ipsi_[h + i]));
      const __m512i ws = _mm512_set1_epi64(static_cast<long long>(tb.ipsi_shoup52_[h + i]));
      uint64_t* x = a + 2 * i * t;
      uint64_t* y = x + t;
      for (size_t j = 0; j < t; j += 8) {
        __m512i vx = _mm512_loadu_si512(x + j), vy = _mm512_loadu_si512(y + j);
        inv_bf(vx, vy, w, ws, p, p2, mask52);
        _mm512_storeu_si512(x + j, vx);
        _mm512_storeu_si512(y + j, vy);
      }
    }
  }
  const __m512i ni = _mm512_set1_epi64(static_cast<long long>(tb.n_inv_));
  const __m512i nis = _mm512_set1_epi64(static_cast<long long>(tb.n_inv_shoup52_));
  for (size_t j = 0; j < n; j += 8)
    _mm512_storeu_si512(a + j, reduce_once(mul_lazy(_mm512_loadu_si512(a + j), ni, nis, p, mask52), p));
}

VEIL_IFMA void NttIfma::pointwise(const uint64_t* a, const uint64_t* b, const uint64_t* b_shoup52, uint64_t* c,
                                  size_t n, uint64_t p64) {
  const __m512i p = _mm512_set1_epi64(static_cast<long long>(p64));
  const __m512i mask52 = _mm512_set1_epi64((1ll << 52) - 1);
  for (size_t i = 0; i < n; i += 8) {
    const __m512i r = mul_lazy(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), _mm512_loadu_si512(b_shoup52 + i),
                               p, mask52);
    _mm512_storeu_si512(c + i, reduce_once(r, p));
  }
}

VEIL_IFMA void NttIfma::reduce(const uint64_t* a, uint64_t* out, size_t n, uint64_t p64) {
  // a = hi 2^52 + lo: a mod p = (lo * 1 + hi * (2^52 mod p)) mod p, both products lazy in [0, 2p).
  const unsigned __int128 two52 = (unsigned __int128)1 << 52;
  const uint64_t c = static_cast<uint64_t>(two52 % p64);
  const __m512i p = _mm512_set1_epi64(static_cast<long long>(p64));
  const __m512i p2 = _mm512_set1_epi64(static_cast<long long>(2 * p64));
  const __m512i mask52 = _mm512_set1_epi64((1ll << 52) - 1);
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i one_s = _mm512_set1_epi64(static_cast<long long>(two52 / p64));
  const __m512i cv = _mm512_set1_epi64(static_cast<long long>(c));
  const __m512i cs = _mm512_set1_epi64(static_cast<long long>(((unsigned __int128)c << 52) / p64));
  for (size_t i = 0; i < n; i += 8) {
    const __m512i v = _mm512_loadu_si512(a + i);
    const __m512i lo = mul_lazy(_mm512_and_si512(v, mask52), one, one_s, p, mask52);
    const __m512i hi = mul_lazy(_mm512_srli_epi64(v, 52), cv, cs, p, mask52);
    _mm512_storeu_si512(out + i, reduce_once(reduce_once(_mm512_add_epi64(lo, hi), p2), p));
  }
}

VEIL_IFMA void NttIfma::crt(const uint64_t* x1, const uint64_t* x2, uint64_t* c, size_t n, uint64_t p1_64,
                            uint64_t p2_64, uint64_t inv64) {
  using u128 = unsigned __int128;
  const u128 big = (u128)p1_64 * p2_64, half = big >> 1;
  const __m512i p1 = _mm512_set1_epi64(static_cast<long long>(p1_64));
  const __m512i p2 = _mm512_set1_epi64(static_cast<long long>(p2_64));
  const __m512i mask52 = _mm512_set1_epi64((1ll << 52) - 1);
  const __m512i inv = _mm512_set1_epi64(static_cast<long long>(inv64));
  const __m512i inv_s = _mm512_set1_epi64(static_cast<long long>(((u128)inv64 << 52) / p2_64));
  const __m512i half_hi = _mm512_set1_epi64(static_cast<long long>(static_cast<uint64_t>(half >> 52)));
  const __m512i half_lo = _mm512_set1_epi64(static_cast<long long>(static_cast<uint64_t>(half) & ((1ull << 52) - 1)));
  const __m512i big_lo = _mm512_set1_epi64(static_cast<long long>(static_cast<uint64_t>(big)));
  const __m512i zero = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 8) {
    const __m512i a = _mm512_loadu_si512(x1 + i), b = _mm512_loadu_si512(x2 + i);
    const __m512i a2 = reduce_once(a, p2);                                       // x1 mod p2
    const __m512i d = reduce_once(_mm512_sub_epi64(_mm512_add_epi64(b, p2), a2), p2);  // (x2 - x1) mod p2
    const __m512i v = reduce_once(mul_lazy(d, inv, inv_s, p2, mask52), p2);        // < p2
    // x = x1 + p1 v = hi 2^52 + lo, normalised to lo < 2^52.
    __m512i lo = _mm512_madd52lo_epu64(a, p1, v);
    __m512i hi = _mm512_madd52hi_epu64(zero, p1, v);
    hi = _mm512_add_epi64(hi, _mm512_srli_epi64(lo, 52));
    lo = _mm512_and_si512(lo, mask52);
    const __mmask8 gt = _mm512_cmpgt_epu64_mask(hi, half_hi) |
                        (_mm512_cmpeq_epu64_mask(hi, half_hi) & _mm512_cmpgt_epu64_mask(lo, half_lo));
    __m512i r = _mm512_add_epi64(_mm512_slli_epi64(hi, 52), lo);  // x mod 2^64
    r = _mm512_mask_sub_epi64(r, gt, r, big_lo);                  // centred: x - p1 p2
    _mm512_storeu_si512(c + i, r);
  }
}

#else  // not x86-64: the scalar transforms only

bool NttIfma::available() { return false; }
void NttIfma::forward(const NttTables&, uint64_t*) {}
void NttIfma::inverse(const NttTables&, uint64_t*) {}
void NttIfma::pointwise(const uint64_t*, const uint64_t*, const uint64_t*, uint64_t*, size_t, uint64_t) {}
void NttIfma::reduce(const uint64_t*, uint64_t*, size_t, uint64_t) {}
void NttIfma::crt(const uint64_t*, const uint64_t*, uint64_t*, size_t, uint64_t, uint64_t, uint64_t) {}

#endif

}  // namespace veil::he::detail
