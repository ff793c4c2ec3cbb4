// Integer GEMM over Z_{2^64} of ciphertext coefficients by small signed integer weights:
//   Yt[c * rows + i] = sum_j Bt[j * rows + i] * W[j][c]   (mod 2^64)
// Bt is the k x rows matrix of 64-bit coefficients (one ciphertext column per row of Bt), W is
// k x n with |W| < 2^15. Callers reduce the result mod 2^Q.
//
// Fast path (AVX-512 VNNI): each coefficient is split into `limbs` unsigned bytes and each weight
// into signed bytes ("digits"); vpdpbusd multiplies u8 x s8 and sums four products into int32
// lanes, which is exact because 255 * 128 * k < 2^31 for k <= 65535. The int32 partial sums of
// every limb/digit pair are shifted by 8*(limb+digit) and added in uint64 (wrapping = mod 2^64).
// AMX path (AMX-INT8, tdpbsud): the same limbs and digits, as tile products of 16 output columns
// (signed weight bytes, A) by 16 coefficients x 64 inner indices (unsigned limb bytes, B): the int32
// tile sums are exact for the same reason and are shifted and added in uint64 the same way.
// Portable path: plain uint64 multiply-accumulate on the unsplit coefficients.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace veil::he::detail {

enum class GemmKernel { kPortable, kVnni, kAmx };

struct PackedWeights {
  GemmKernel kernel = GemmKernel::kPortable;  // the kernel the packing is for
  size_t k = 0, n = 0;
  int digits = 1;         // signed bytes per weight (1 for |W| <= 127, else 2)
  int limbs = 8;          // bytes per coefficient the packing was prepared for
  int nr = 1;             // packed columns per panel (16 for AMX)
  size_t panels = 0;      // panels of nr packed columns (AMX: an even number)
  size_t groups = 0;      // ceil(k / 4) (AMX: rounded up to a multiple of 16)
  std::vector<int8_t> data;      // VNNI: [panel][group][nr][4]; AMX: [panel][nr][4 * groups]
  std::vector<uint32_t> dest;    // per packed column: logical output column, or UINT32_MAX (padding)
  std::vector<uint8_t> shift;    // per packed column: 8 * digit
  std::vector<int32_t> plain;    // k x n row-major copy for the portable path
};

// True when the AVX-512 VNNI kernel is compiled in and the CPU supports it.
[[nodiscard]] bool gemm_has_vnni();
// True when the CPU has AMX-INT8 and the kernel granted this process the tile state (asked once).
[[nodiscard]] bool gemm_has_amx();
// The fastest kernel available here (AMX, else VNNI, else portable); the environment variable
// VEIL_HE_GEMM=vnni or =portable caps it (A/B measurements).
[[nodiscard]] GemmKernel best_gemm_kernel();

// Packs W (k x n row-major, |W| <= 32767) for coefficients of `limbs` bytes (1..8), for `kernel`
// (an unavailable kernel falls back to the portable one at multiplication time).
// Throws std::invalid_argument on out-of-range sizes or weights.
[[nodiscard]] PackedWeights pack_weights(const int32_t* w, size_t k, size_t n, int limbs,
                                         GemmKernel kernel = best_gemm_kernel());

// Yt = (Bt^T W)^T mod 2^64 as described above; coefficients of Bt must be < 2^(8*limbs). Results are
// identical for every kernel and thread count.
void gemm_mod2k(const uint64_t* bt, size_t rows, const PackedWeights& w, uint64_t* yt, int threads,
                bool force_portable = false);

}  // namespace veil::he::detail
