// A Kronecker-structured random orthogonal d×d matrix for obfuscatune, applied as x ↦ x·R:
//
//   R = P₁·D₁·((Q₁ ⊗ … ⊗ Q_m) ⊕ Q_r)·D₂·P₂
//
// P₁, P₂ uniformly random permutations, D₁, D₂ uniformly random sign flips, Q_i (b_i×b_i)
// Haar-random orthogonal with m = 2 factors of about √d (m = 3 of about ∛d above 1024), and Q_r
// (r×r, r = d − ∏b_i, usually 0) a Haar-random block for sizes that do not factor well. Applying
// R costs O(d·Σb_i) per row, in one hand-written pass per row that stays in the L1 cache: a
// gather with sign flips, one small matrix product per factor along its mixed-radix digit of the
// index (vectorised over the factor's columns or over the digits after it; no transposes), and a
// second gather with sign flips — 20–100× fewer multiply-adds than a dense x·R at transformer
// widths. R⁻¹ = Rᵀ.
// All randomness from SecretRng (OpenSSL). What this family hides and does not:
// docs/designs/obfuscatune.md.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace veil::designs::obfuscatune {

class SecretRng;

class KroneckerTransform {
 public:
  KroneckerTransform() = default;
  // Throws std::invalid_argument for dim < 1.
  [[nodiscard]] static KroneckerTransform draw(std::int64_t dim, SecretRng& rng);

  // x·R (inverse = false) or x·Rᵀ = x·R⁻¹ (inverse = true) over the last dimension of x
  // (float32 or float64).
  [[nodiscard]] at::Tensor apply(const at::Tensor& x, bool inverse) const;

  // R assembled densely in float64 from its parts with at::kron, block_diag and permutation
  // matrices — a path independent of apply()'s kernel, for tests. O(d²) memory.
  [[nodiscard]] at::Tensor reference_matrix() const;

  [[nodiscard]] std::int64_t dim() const { return dim_; }
  [[nodiscard]] const std::vector<std::int64_t>& factors() const { return factors_; }
  [[nodiscard]] std::int64_t secret_bytes() const;

  // Sizes above this get three factors (fewer multiply-adds, one more pass over the rows).
  static constexpr std::int64_t kThreeFactorsAbove = 1024;
  // The factor sizes used for a dimension: two (three above kThreeFactorsAbove, when d factors
  // well), each about √d (∛d); their product p ≤ d with d − p smaller than the largest factor.
  [[nodiscard]] static std::vector<std::int64_t> factor(std::int64_t dim);

 private:
  // One gather-and-sign pass: out[m] = in[idx[m]] · sign[m].
  struct Gather {
    std::vector<std::int64_t> idx;
    std::vector<double> sign;
  };
  template <typename T>
  void apply_rows(const T* src, std::int64_t ld, T* dst, std::int64_t rows, bool inverse) const;

  std::int64_t dim_ = 0;
  std::vector<std::int64_t> factors_;
  // Haar factors (float64 as drawn, float32 as applied to float32 rows) and their transposes,
  // row-major; the remainder block last when ∏ factors < d.
  std::vector<std::vector<double>> q64_, qt64_;
  std::vector<std::vector<float>> q32_, qt32_;
  Gather fwd_in_, fwd_out_, inv_in_, inv_out_;
};

}  // namespace veil::designs::obfuscatune
