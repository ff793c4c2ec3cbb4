// Negacyclic number-theoretic transform over Z_p[X]/(X^N+1) for NTT-friendly primes, and the
// exact product of a polynomial mod 2^Q with a small (ternary) polynomial via CRT over two primes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace veil::he::detail {

// Tables for one prime p = 1 (mod 2N): powers of a primitive 2N-th root psi in bit-reversed
// order with Shoup companions (the layout of Longa-Naehrig / SEAL's forward transform).
class NttTables {
 public:
  NttTables(size_t n, uint64_t p);
  [[nodiscard]] size_t n() const { return n_; }
  [[nodiscard]] uint64_t modulus() const { return p_; }
  // In place; input coefficients in [0, p), output in bit-reversed evaluation order, in [0, p).
  // Runs the AVX-512 IFMA kernels (ntt_ifma.h) when vectorized(), else forward_scalar().
  void forward(uint64_t* a) const;
  // Inverse of forward, including the 1/N scaling.
  void inverse(uint64_t* a) const;
  // The portable scalar transforms (same outputs; the reference the vector kernels are tested on).
  void forward_scalar(uint64_t* a) const;
  void inverse_scalar(uint64_t* a) const;
  // True when forward/inverse use the IFMA kernels: CPU support, p < 2^50 and N >= 16.
  [[nodiscard]] bool vectorized() const { return ifma_; }

 private:
  friend struct NttIfma;
  size_t n_;
  int log_n_;
  uint64_t p_;
  bool ifma_ = false;
  std::vector<uint64_t> psi_, psi_shoup_, ipsi_, ipsi_shoup_;
  uint64_t n_inv_, n_inv_shoup_;
  // For the IFMA kernels: 52-bit Shoup companions floor(w * 2^52 / p), and for the stages with
  // t = 4, 2, 1 (index 0, 1, 2) the twiddle of each of the N/2 butterflies in order.
  std::vector<uint64_t> psi_shoup52_, ipsi_shoup52_;
  std::vector<uint64_t> fwd_small_[3], fwd_small_shoup52_[3], inv_small_[3], inv_small_shoup52_[3];
  uint64_t n_inv_shoup52_ = 0;
};

// Largest primes p < 2^50 with p = 1 (mod 2^17), found once (valid for N <= 65536). Below 2^50 so
// that the IFMA kernels' lazy values (< 4p) fit in 52 bits; two of them (p1 p2 > 2^99) still hold
// the exact negacyclic product of a 64-bit and a ternary polynomial (|c| < N 2^64 <= 2^80).
[[nodiscard]] std::vector<uint64_t> crt_primes(size_t count);

// Computes c = a * s in Z_{2^64}[X]/(X^N+1) exactly, where a has arbitrary 64-bit coefficients and
// s has coefficients in {-1, 0, 1} given in NTT form for both CRT primes (see NegacyclicMultiplier).
class NegacyclicMultiplier {
 public:
  explicit NegacyclicMultiplier(size_t n);
  [[nodiscard]] size_t n() const { return n_; }
  // Transforms a small signed polynomial (|coefficient| <= 1 is what the bound below assumes)
  // into the two-prime NTT domain: out has 4N entries (the transform for each prime, then their
  // Shoup companions for multiply(): floor(v 2^52 / p) with the IFMA kernels, floor(v 2^64 / p)
  // without).
  void transform_small(std::span<const int8_t> s, std::vector<uint64_t>& out) const;
  // c = a * s mod 2^64 (|a * s| coefficients stay below N * 2^64 < p1 * p2 / 2).
  // scratch must hold 2N words.
  void multiply(const uint64_t* a, const std::vector<uint64_t>& s_ntt, uint64_t* c, uint64_t* scratch) const;
  // The two-prime NTT form of a polynomial with arbitrary 64-bit coefficients (out: 2N words), for
  // operands used many times (the public CRS polynomials).
  void transform(const uint64_t* a, uint64_t* out) const;
  // multiply() with `a` already transformed (a_ntt: 2N words from transform()).
  void multiply_transformed(const uint64_t* a_ntt, const std::vector<uint64_t>& s_ntt, uint64_t* c,
                            uint64_t* scratch) const;

 private:
  // The pointwise product with s, inverse transforms and CRT of multiply(); x holds 2N words.
  void finish(uint64_t* x, const std::vector<uint64_t>& s_ntt, uint64_t* c) const;

  size_t n_;
  NttTables t1_, t2_;
  uint64_t p1_inv_mod_p2_, p1_inv_shoup_;
  bool ifma_;  // both tables vectorized: pointwise products with 52-bit Shoup companions
};

// Reference: schoolbook negacyclic product mod 2^64 (tests and tiny sizes only).
void negacyclic_naive(const uint64_t* a, const int64_t* b, uint64_t* c, size_t n);

}  // namespace veil::he::detail
