// AVX-512 IFMA kernels of the negacyclic NTT (NttTables::forward/inverse dispatch to them when the
// CPU has avx512ifma and p < 2^50). Harvey's lazy butterflies with 52-bit Shoup companions, as in
// Intel HEXL: forward values stay in [0, 4p), inverse values in [0, 2p), one final reduction to
// [0, p) — the outputs are the same canonical residues as the scalar transforms'.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veil::he::detail {

class NttTables;

struct NttIfma {
  // Whether this CPU runs the kernels (checked once).
  [[nodiscard]] static bool available();
  static void forward(const NttTables& t, uint64_t* a);
  static void inverse(const NttTables& t, uint64_t* a);
  // c[i] = a[i] * b[i] mod p for a[i] < 2^52, b[i] < p with b_shoup52[i] = floor(b[i] * 2^52 / p);
  // result in [0, p). n must be a multiple of 8.
  static void pointwise(const uint64_t* a, const uint64_t* b, const uint64_t* b_shoup52, uint64_t* c, size_t n,
                        uint64_t p);
  // out[i] = a[i] mod p for arbitrary 64-bit a[i]; n a multiple of 8.
  static void reduce(const uint64_t* a, uint64_t* out, size_t n, uint64_t p);
  // CRT of residues x1 < p1, x2 < p2 (p2 < p1 < 2 p2 < 2^51): the integer x in [0, p1 p2) with those
  // residues, centred (x - p1 p2 when x > p1 p2 / 2), reduced mod 2^64 into c. inv = p1^-1 mod p2;
  // n a multiple of 8.
  static void crt(const uint64_t* x1, const uint64_t* x2, uint64_t* c, size_t n, uint64_t p1, uint64_t p2, uint64_t inv);
};

}  // namespace veil::he::detail
