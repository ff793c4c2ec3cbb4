#include "he/util/gemm.h"

// GCC 12 reports its own intrinsic headers (_mm512_undefined_*) as maybe-uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "he/util/parallel.h"
#include "veil/util/check.h"

namespace veil::he::detail {
namespace {

constexpr int nr_for(int limbs) {
  // Accumulators (limbs * nr) + loaded limb vectors (limbs) + one broadcast must fit 32 zmm.
  int nr = (30 - limbs) / limbs;
  return nr > 8 ? 8 : nr;
}

constexpr size_t kPanelRows = 16;   // one zmm of int32 lanes
constexpr size_t kKcGroups = 256;   // k-block of 1024 (fits L1 with the weight panel)
constexpr size_t kMcPanels = 4;     // row panels per packed block (~460 KB for 7 limbs, in L2)

}  // namespace

PackedWeights pack_weights(const int32_t* w, size_t k, size_t n, int limbs, GemmKernel kernel) {
  VEIL_CHECK_ARG(k >= 1 && k <= 65535, "inner dimension ", k, " outside [1, 65535] (int32 accumulation bound)");
  VEIL_CHECK_ARG(n >= 1 && n <= (size_t{1} << 24), "output dimension ", n, " outside [1, 2^24]");
  VEIL_CHECK_ARG(limbs >= 1 && limbs <= 8, "limb count ", limbs, " outside [1, 8]");
  int32_t maxabs = 0;
  for (size_t i = 0; i < k * n; ++i) {
    VEIL_CHECK_ARG(w[i] >= -32767 && w[i] <= 32767, "weight ", w[i], " at index ", i, " outside [-32767, 32767]");
    maxabs = std::max(maxabs, w[i] < 0 ? -w[i] : w[i]);
  }
  PackedWeights p;
  p.kernel = kernel;
  p.k = k;
  p.n = n;
  p.limbs = limbs;
  p.digits = maxabs <= 127 ? 1 : (maxabs <= 32639 ? 2 : 3);
  const bool amx = kernel == GemmKernel::kAmx;
  p.nr = amx ? 16 : nr_for(limbs);
  p.groups = amx ? (k + 63) / 64 * 16 : (k + 3) / 4;
  const size_t nr = static_cast<size_t>(p.nr);
  const size_t col_groups = (n + nr - 1) / nr;
  p.panels = col_groups * static_cast<size_t>(p.digits);
  if (amx) p.panels += p.panels % 2;  // tiles go in pairs; the extra panel is zero, no destination
  p.data.assign(p.panels * p.groups * nr * 4, 0);
  p.dest.assign(p.panels * nr, std::numeric_limits<uint32_t>::max());
  p.shift.assign(p.panels * nr, 0);
  p.plain.assign(w, w + k * n);
  for (size_t g = 0; g < col_groups; ++g) {
    for (int d = 0; d < p.digits; ++d) {
      const size_t panel = g * static_cast<size_t>(p.digits) + static_cast<size_t>(d);
      for (size_t cc = 0; cc < nr; ++cc) {
        const size_t c = g * nr + cc;
        if (c >= n) continue;
        p.dest[panel * nr + cc] = static_cast<uint32_t>(c);
        p.shift[panel * nr + cc] = static_cast<uint8_t>(8 * d);
        for (size_t j = 0; j < k; ++j) {
          int32_t v = w[j * n + c];
          int32_t digit = 0;
          for (int e = 0; e <= d; ++e) {  // signed base-256 digits, each in [-128, 127]
            digit = ((v + 128) & 255) - 128;
            v = (v - digit) / 256;
          }
          const size_t at = amx ? (panel * nr + cc) * p.groups * 4 + j : ((panel * p.groups + j / 4) * nr + cc) * 4 + j % 4;
          p.data[at] = static_cast<int8_t>(digit);
        }
      }
    }
  }
  return p;
}

namespace {

void gemm_portable(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, int threads) {
  parallel_for(w.n, threads, [&](size_t c0, size_t c1, int) {
    for (size_t c = c0; c < c1; ++c) {
      uint64_t* y = yt + c * rows;
      std::fill(y, y + rows, 0);
      for (size_t j = 0; j < w.k; ++j) {
        const int32_t v = w.plain[j * w.n + c];
        if (v == 0) continue;
        const uint64_t uv = static_cast<uint64_t>(static_cast<int64_t>(v));
        const uint64_t* b = bt + j * rows;
        for (size_t i = 0; i < rows; ++i) y[i] += b[i] * uv;
      }
    }
  });
}

#if defined(__x86_64__)
#define VEIL_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Lane masks of a 16-row panel that holds `valid` rows: its low and its high 8 rows.
struct PanelMasks {
  __mmask8 lo, hi;
};
inline PanelMasks panel_masks(size_t valid) {
  return {static_cast<__mmask8>(valid >= 8 ? 0xFF : ((1u << valid) - 1)),
          static_cast<__mmask8>(valid >= 16 ? 0xFF : (valid <= 8 ? 0 : ((1u << (valid - 8)) - 1)))};
}

template <int L, int NR>
VEIL_VNNI void micro_kernel(const uint8_t* a, const int8_t* wp, size_t groups, uint64_t* const* y,
                            const uint8_t* sh, __mmask8 mlo, __mmask8 mhi) {
  __m512i acc[L][NR];
#pragma GCC unroll 64
  for (int l = 0; l < L; ++l)
#pragma GCC unroll 64
    for (int c = 0; c < NR; ++c) acc[l][c] = _mm512_setzero_si512();
  for (size_t g = 0; g < groups; ++g) {
    __m512i av[L];
#pragma GCC unroll 64
    for (int l = 0; l < L; ++l) av[l] = _mm512_loadu_si512(a + (g * L + static_cast<size_t>(l)) * 64);
#pragma GCC unroll 64
    for (int c = 0; c < NR; ++c) {
      int32_t wv;
      std::memcpy(&wv, wp + (g * NR + static_cast<size_t>(c)) * 4, 4);
      const __m512i wb = _mm512_set1_epi32(wv);
#pragma GCC unroll 64
      for (int l = 0; l < L; ++l) acc[l][c] = _mm512_dpbusd_epi32(acc[l][c], av[l], wb);
    }
  }
#pragma GCC unroll 64
  for (int c = 0; c < NR; ++c) {
    if (y[c] == nullptr) continue;
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
#pragma GCC unroll 64
    for (int l = 0; l < L; ++l) {
      const __m128i count = _mm_cvtsi32_si128(8 * l + sh[c]);
      lo = _mm512_add_epi64(lo, _mm512_sll_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[l][c])), count));
      hi = _mm512_add_epi64(hi, _mm512_sll_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[l][c], 1)), count));
    }
    _mm512_mask_storeu_epi64(y[c], mlo, _mm512_add_epi64(_mm512_maskz_loadu_epi64(mlo, y[c]), lo));
    _mm512_mask_storeu_epi64(y[c] + 8, mhi, _mm512_add_epi64(_mm512_maskz_loadu_epi64(mhi, y[c] + 8), hi));
  }
}

// Packs row panels [p0, p0 + np) x groups [g0, g0 + ng) of Bt into [panel][group][limb][16 rows x 4 k] bytes.
template <int L>
VEIL_VNNI void pack_block(const uint64_t* bt, size_t rows, size_t k, size_t p0, size_t np, size_t g0, size_t ng,
                          uint8_t* out) {
  for (size_t pp = 0; pp < np; ++pp) {
    const size_t i0 = (p0 + pp) * kPanelRows;
    const size_t valid = std::min(kPanelRows, rows - i0);
    const auto [mlo, mhi] = panel_masks(valid);
    // Byte shuffle that turns four 16-byte rows of one limb into 16 x 4 interleaved bytes.
    for (size_t g = 0; g < ng; ++g) {
      uint8_t* dst = out + ((pp * ng + g) * L) * 64;
      __m512i v[4][2];
      for (int kk = 0; kk < 4; ++kk) {
        const size_t j = (g0 + g) * 4 + static_cast<size_t>(kk);
        if (j < k) {
          v[kk][0] = _mm512_maskz_loadu_epi64(mlo, bt + j * rows + i0);
          v[kk][1] = _mm512_maskz_loadu_epi64(mhi, bt + j * rows + i0 + 8);
        } else {
          v[kk][0] = v[kk][1] = _mm512_setzero_si512();
        }
      }
#pragma GCC unroll 8
      for (int l = 0; l < L; ++l) {
        // Limb l of each 64-bit lane, as 16 bytes per k index (rows 0..15).
        __m128i b[4];
        for (int kk = 0; kk < 4; ++kk) {
          __m512i s0 = _mm512_srli_epi64(v[kk][0], 0);
          __m512i s1 = v[kk][1];
          const __m128i cnt = _mm_cvtsi32_si128(8 * l);
          s0 = _mm512_srl_epi64(s0, cnt);
          s1 = _mm512_srl_epi64(s1, cnt);
          const __m128i lo = _mm512_cvtepi64_epi8(s0);  // truncating: low byte of each lane
          const __m128i hi = _mm512_cvtepi64_epi8(s1);
          b[kk] = _mm_unpacklo_epi64(lo, hi);           // 16 bytes: rows 0..15
        }
        // Interleave to [row][kk]: unpack bytes then words.
        const __m128i t01l = _mm_unpacklo_epi8(b[0], b[1]), t01h = _mm_unpackhi_epi8(b[0], b[1]);
        const __m128i t23l = _mm_unpacklo_epi8(b[2], b[3]), t23h = _mm_unpackhi_epi8(b[2], b[3]);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + l * 64 + 0), _mm_unpacklo_epi16(t01l, t23l));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + l * 64 + 16), _mm_unpackhi_epi16(t01l, t23l));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + l * 64 + 32), _mm_unpacklo_epi16(t01h, t23h));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + l * 64 + 48), _mm_unpackhi_epi16(t01h, t23h));
      }
    }
  }
}

template <int L>
VEIL_VNNI void gemm_vnni_l(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, int threads) {
  constexpr int NR = nr_for(L);
  const size_t rpanels = (rows + kPanelRows - 1) / kPanelRows;
  const size_t digits = static_cast<size_t>(w.digits);
  const size_t col_units = w.panels / digits;  // whole logical column groups (no shared destinations)
  const bool split_rows = rpanels >= 2 * static_cast<size_t>(threads) || col_units < 2;
  const size_t units = split_rows ? rpanels : col_units;
  parallel_for(units, threads, [&](size_t u0, size_t u1, int) {
    const size_t p_begin = split_rows ? u0 : 0, p_end = split_rows ? u1 : rpanels;
    const size_t q_begin = split_rows ? 0 : u0 * digits, q_end = split_rows ? w.panels : u1 * digits;
    const size_t i_begin = p_begin * kPanelRows, i_end = std::min(rows, p_end * kPanelRows);
    for (size_t q = q_begin; q < q_end; ++q)
      for (int cc = 0; cc < NR; ++cc) {
        const uint32_t d = w.dest[q * NR + static_cast<size_t>(cc)];
        if (d != std::numeric_limits<uint32_t>::max() && w.shift[q * NR + static_cast<size_t>(cc)] == 0)
          std::fill(yt + static_cast<size_t>(d) * rows + i_begin, yt + static_cast<size_t>(d) * rows + i_end, 0);
      }
    std::vector<uint8_t> buf(kMcPanels * kKcGroups * L * 64);
    for (size_t g0 = 0; g0 < w.groups; g0 += kKcGroups) {
      const size_t ng = std::min(kKcGroups, w.groups - g0);
      for (size_t p0 = p_begin; p0 < p_end; p0 += kMcPanels) {
        const size_t np = std::min(kMcPanels, p_end - p0);
        pack_block<L>(bt, rows, w.k, p0, np, g0, ng, buf.data());
        for (size_t q = q_begin; q < q_end; ++q) {
          const int8_t* wp = w.data.data() + (q * w.groups + g0) * NR * 4;
          for (size_t pp = 0; pp < np; ++pp) {
            const size_t i0 = (p0 + pp) * kPanelRows;
            const size_t valid = std::min(kPanelRows, rows - i0);
            const auto [mlo, mhi] = panel_masks(valid);
            uint64_t* y[NR];
            for (int cc = 0; cc < NR; ++cc) {
              uint32_t d = w.dest[q * NR + static_cast<size_t>(cc)];
              y[cc] = d == std::numeric_limits<uint32_t>::max() ? nullptr : yt + static_cast<size_t>(d) * rows + i0;
            }
            micro_kernel<L, NR>(buf.data() + pp * ng * L * 64, wp, ng, y, w.shift.data() + q * NR, mlo, mhi);
          }
        }
      }
    }
  });
}

#define VEIL_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")))

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Adds the int32 tile sums c[16 packed columns][16 coefficients] of limb l of panel q, shifted by
// 8 * (l + digit), into the output columns (wrapping uint64 = mod 2^64).
VEIL_AMX void amx_epilogue(const int32_t* c, const PackedWeights& w, size_t q, int l, uint64_t* yt, size_t rows,
                           size_t i0, __mmask8 mlo, __mmask8 mhi) {
  for (size_t cc = 0; cc < 16; ++cc) {
    const uint32_t d = w.dest[q * 16 + cc];
    if (d == std::numeric_limits<uint32_t>::max()) continue;
    const __m128i count = _mm_cvtsi32_si128(8 * l + w.shift[q * 16 + cc]);
    const __m512i v = _mm512_load_si512(c + cc * 16);
    const __m512i lo = _mm512_sll_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)), count);
    const __m512i hi = _mm512_sll_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)), count);
    uint64_t* y = yt + static_cast<size_t>(d) * rows + i0;
    _mm512_mask_storeu_epi64(y, mlo, _mm512_add_epi64(_mm512_maskz_loadu_epi64(mlo, y), lo));
    _mm512_mask_storeu_epi64(y + 8, mhi, _mm512_add_epi64(_mm512_maskz_loadu_epi64(mhi, y + 8), hi));
  }
}

template <int L>
VEIL_AMX void amx_part(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, size_t p_begin,
                       size_t p_end, size_t q_begin, size_t q_end);

// Tiles: 0-3 accumulators (panel q / q+1 x limb l / l+1), 4-5 weights of panels q and q+1
// (16 columns x 64 inner bytes), 6-7 limbs l and l+1 of 16 coefficients (VNNI layout from pack_block).
template <int L>
VEIL_AMX void gemm_amx_l(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, int threads) {
  const size_t rpanels = (rows + kPanelRows - 1) / kPanelRows;
  const size_t pairs = w.panels / 2;
  // Columns are split by panel pairs only when no logical column spans two pairs (digits 1 or 2).
  const bool split_rows = rpanels >= 2 * static_cast<size_t>(threads) || pairs < 2 || w.digits > 2;
  const size_t units = split_rows ? rpanels : pairs;
  parallel_for(units, threads, [&](size_t u0, size_t u1, int) {
    const size_t p_begin = split_rows ? u0 : 0, p_end = split_rows ? u1 : rpanels;
    const size_t q_begin = split_rows ? 0 : 2 * u0, q_end = split_rows ? w.panels : 2 * u1;
    amx_part<L>(bt, rows, w, yt, p_begin, p_end, q_begin, q_end);
  });
}

// One thread's share of gemm_amx_l: row panels [p_begin, p_end) x packed panels [q_begin, q_end).
// A function of its own (not the lambda) so that it carries the AMX target attribute.
template <int L>
VEIL_AMX void amx_part(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, size_t p_begin,
                       size_t p_end, size_t q_begin, size_t q_end) {
  const size_t stride_a = w.groups * 4;
  const size_t i_begin = p_begin * kPanelRows, i_end = std::min(rows, p_end * kPanelRows);
  for (size_t q = q_begin; q < q_end; ++q)
    for (size_t cc = 0; cc < 16; ++cc) {
      const uint32_t d = w.dest[q * 16 + cc];
      if (d != std::numeric_limits<uint32_t>::max() && w.shift[q * 16 + cc] == 0)
        std::fill(yt + static_cast<size_t>(d) * rows + i_begin, yt + static_cast<size_t>(d) * rows + i_end, 0);
    }
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  std::vector<uint8_t> buf(kMcPanels * kKcGroups * L * 64);
  alignas(64) int32_t c[4][256];
  for (size_t g0 = 0; g0 < w.groups; g0 += kKcGroups) {
    const size_t ng = std::min(kKcGroups, w.groups - g0);  // a multiple of 16
    for (size_t p0 = p_begin; p0 < p_end; p0 += kMcPanels) {
      const size_t np = std::min(kMcPanels, p_end - p0);
      pack_block<L>(bt, rows, w.k, p0, np, g0, ng, buf.data());
      for (size_t q = q_begin; q < q_end; q += 2) {
        const int8_t* a0 = w.data.data() + q * 16 * stride_a + g0 * 4;
        const int8_t* a1 = a0 + 16 * stride_a;
        for (size_t pp = 0; pp < np; ++pp) {
          const size_t i0 = (p0 + pp) * kPanelRows;
          const size_t valid = std::min(kPanelRows, rows - i0);
          const auto [mlo, mhi] = panel_masks(valid);
          const uint8_t* b = buf.data() + pp * ng * L * 64;
          for (int l = 0; l < L; l += 2) {
            const bool two = l + 1 < L;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (size_t g = 0; g < ng; g += 16) {
              _tile_loadd(4, a0 + g * 4, stride_a);
              _tile_loadd(5, a1 + g * 4, stride_a);
              _tile_loadd(6, b + (g * L + static_cast<size_t>(l)) * 64, L * 64);
              _tile_dpbsud(0, 4, 6);
              _tile_dpbsud(1, 5, 6);
              if (two) {
                _tile_loadd(7, b + (g * L + static_cast<size_t>(l) + 1) * 64, L * 64);
                _tile_dpbsud(2, 4, 7);
                _tile_dpbsud(3, 5, 7);
              }
            }
            _tile_stored(0, c[0], 64);
            _tile_stored(1, c[1], 64);
            amx_epilogue(c[0], w, q, l, yt, rows, i0, mlo, mhi);
            amx_epilogue(c[1], w, q + 1, l, yt, rows, i0, mlo, mhi);
            if (two) {
              _tile_stored(2, c[2], 64);
              _tile_stored(3, c[3], 64);
              amx_epilogue(c[2], w, q, l + 1, yt, rows, i0, mlo, mhi);
              amx_epilogue(c[3], w, q + 1, l + 1, yt, rows, i0, mlo, mhi);
            }
          }
        }
      }
    }
  }
  _tile_release();
}
#endif

}  // namespace

bool gemm_has_amx() {
#if defined(__x86_64__) && defined(__linux__)
  static const bool ok = [] {
    // CPUID.(EAX=7, ECX=0):EDX bit 24 = AMX-TILE, bit 25 = AMX-INT8 (read directly: older
    // compilers' __builtin_cpu_supports does not know AMX).
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!gemm_has_vnni() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 24) & 1u) || !((d >> 25) & 1u)) return false;
    // Linux hands out the 8 KB tile state only on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

GemmKernel best_gemm_kernel() {
  // VEIL_HE_GEMM=vnni or =portable caps the choice (A/B measurements).
  static const GemmKernel best = [] {
    const char* e = std::getenv("VEIL_HE_GEMM");
    const std::string cap = e ? e : "";
    if (cap == "portable") return GemmKernel::kPortable;
    if (gemm_has_amx() && cap != "vnni") return GemmKernel::kAmx;
    return gemm_has_vnni() ? GemmKernel::kVnni : GemmKernel::kPortable;
  }();
  return best;
}

bool gemm_has_vnni() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

void gemm_mod2k(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, int threads,
                bool force_portable) {
  VEIL_CHECK_ARG(rows >= 1, "GEMM with zero rows");
  if (threads < 1) threads = 1;
  const bool amx = w.kernel == GemmKernel::kAmx && gemm_has_amx();
  const bool vnni = w.kernel == GemmKernel::kVnni && gemm_has_vnni();
  if (force_portable || (!amx && !vnni)) {
    gemm_portable(bt, rows, w, yt, threads);
    return;
  }
#if defined(__x86_64__)
  // The kernels are templates on the limb count (1..8, checked when the weights were packed).
  auto with_limbs = [&](auto kernel) {
    switch (w.limbs) {
      case 1: return kernel(std::integral_constant<int, 1>{});
      case 2: return kernel(std::integral_constant<int, 2>{});
      case 3: return kernel(std::integral_constant<int, 3>{});
      case 4: return kernel(std::integral_constant<int, 4>{});
      case 5: return kernel(std::integral_constant<int, 5>{});
      case 6: return kernel(std::integral_constant<int, 6>{});
      case 7: return kernel(std::integral_constant<int, 7>{});
      default: return kernel(std::integral_constant<int, 8>{});
    }
  };
  if (amx) return with_limbs([&](auto l) { gemm_amx_l<decltype(l)::value>(bt, rows, w, yt, threads); });
  with_limbs([&](auto l) { gemm_vnni_l<decltype(l)::value>(bt, rows, w, yt, threads); });
#else
  gemm_portable(bt, rows, w, yt, threads);
#endif
}

}  // namespace veil::he::detail
