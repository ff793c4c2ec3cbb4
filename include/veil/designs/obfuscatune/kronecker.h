// A Kronecker-structured random orthogonal d×d matrix for obfuscatune, applied as x ↦ x·R:
//
//   R = P₁·D₁·((Q₁ ⊗ … ⊗ Q_m) ⊕ Q_r)·D₂·P₂
//
// P₁, P₂ uniformly random permutations, D₁, D₂ uniformly random sign flips, Q_i (b_i×b_i)
// Haar-random orthogonal with m = 2 factors of about √d (m = 3 of about ∛d above 1024), and Q_r
// (r×r, r = d − ∏b_i, usually 0) a Haar-random block for sizes that do not factor well. Applying
// R costs O(d·Σb_i) per row: one pass that gathers and flips signs, m small GEMMs with transpose
// copies between them, and one pass that gathers (the second permutation composed with the last
// transpose) and flips signs — 20–100× fewer multiply-adds than a dense x·R at transformer
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

  [[nodiscard]] std::int64_t dim() const { return dim_; }
  [[nodiscard]] const std::vector<std::int64_t>& factors() const { return factors_; }
  [[nodiscard]] std::int64_t secret_bytes() const;

  // Sizes above this get three factors (fewer multiply-adds, one more pass over the rows).
  static constexpr std::int64_t kThreeFactorsAbove = 1024;
  // The factor sizes used for a dimension: two (three above kThreeFactorsAbove, when d factors
  // well), each about √d (∛d); their product p ≤ d with d − p smaller than the largest factor.
  [[nodiscard]] static std::vector<std::int64_t> factor(std::int64_t dim);

 private:
  // One gather-and-sign pass: out[n, m] = in[n, idx[m]] · sign[m].
  struct Gather {
    at::Tensor idx, sign;  // int64 [d], float64 [d]
  };
  [[nodiscard]] at::Tensor core(const at::Tensor& u, bool inverse) const;

  std::int64_t dim_ = 0;
  std::vector<std::int64_t> factors_;
  std::vector<at::Tensor> q_;  // Haar factors, float32
  at::Tensor q_rest_;          // remainder block (undefined when ∏ factors = d)
  Gather fwd_in_, fwd_out_, inv_in_, inv_out_;
};

}  // namespace veil::designs::obfuscatune
