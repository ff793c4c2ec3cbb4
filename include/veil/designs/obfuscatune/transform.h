// A secret invertible d×d matrix R of obfuscatune, applied on the right of row vectors: x ↦ x·R.
//
// Kinds (docs/designs/obfuscatune.md compares what each hides and costs):
//   identity    R = I (a side of a product left in the clear, as the paper's scheme leaves some)
//   orthogonal  Haar-random orthogonal (QR of a Gaussian matrix, signs fixed): κ(R) = 1
//   kappa       R = Q_A·diag(s)·Q_Bᵀ, Q_A, Q_B Haar, s geometric from 1 down to 1/κ: κ(R) = κ
//   gaussian    the paper's naive matrix: i.i.d. N(0, 1/d) entries, inverted in float64
//   hadamard    structured orthogonal: two rounds of (random signs, random permutation,
//               block Hadamard), then random signs and a permutation; O(d log d) to apply,
//               O(d) secret numbers, never stored densely
//   kronecker   structured orthogonal (default): P₁·D₁·(Q₁ ⊗ Q₂)·D₂·P₂ with Haar Q₁, Q₂ of size
//               about √d, random signs D and permutations P; O(d·√d) to apply as two small GEMMs
//               (kronecker.h)
// and two kinds the matched variant builds from its own secrets (never chosen with --opt matrix):
//   block-diagonal      diag(B_0, …, B_{n−1}) of orthogonal b×b blocks (per attention head)
//   signed-permutation  (x·R)[k] = x[π(k)]·s_k (what commutes with an elementwise activation)
// Both apply with differentiable ATen ops, so they may sit inside autograd (a LoRA factor moved
// into obfuscated coordinates).
// Randomness comes from SecretRng (OpenSSL). Dense kinds keep float32 copies of R and, unless
// orthogonal (R⁻¹ = Rᵀ), of R⁻¹.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/designs/obfuscatune/kronecker.h"

namespace veil::designs::obfuscatune {

class SecretRng;

enum class MatrixKind {
  kIdentity, kOrthogonal, kKappa, kGaussian, kHadamard, kKronecker,
  kBlockDiagonal, kSignedPermutation,  // built by the matched variant, not parsed
};
[[nodiscard]] const char* to_string(MatrixKind kind);
// "identity" | "orthogonal" | "kappa" | "gaussian" | "hadamard" | "kronecker"; throws std::invalid_argument.
// (block-diagonal and signed-permutation are not accepted.)
[[nodiscard]] MatrixKind parse_matrix_kind(const std::string& name);

// Which matrix multiplies: R, R⁻¹, Rᵀ or R⁻ᵀ.
enum class Side { kR, kInverse, kTranspose, kInverseTranspose };

class SecretTransform {
 public:
  SecretTransform() = default;
  // A fresh transform of size dim (kappa is used by MatrixKind::kKappa only, >= 1).
  // Throws std::invalid_argument for dim < 1 or kappa < 1.
  [[nodiscard]] static SecretTransform draw(MatrixKind kind, std::int64_t dim, double kappa, SecretRng& rng);
  // diag(blocks[0], …, blocks[n−1]) for orthogonal blocks [n, b, b] (float64). Throws
  // std::invalid_argument for another shape.
  [[nodiscard]] static SecretTransform block_diagonal(const at::Tensor& blocks);
  // (x·R)[k] = x[perm[k]]·signs[k]; perm a permutation of 0..d−1 (int64), signs ±1 [d]. Throws
  // std::invalid_argument for mismatched sizes.
  [[nodiscard]] static SecretTransform signed_permutation(const at::Tensor& perm, const at::Tensor& signs);

  // x·op(R) over the last dimension of x (float32 or float64); identity returns x itself.
  [[nodiscard]] at::Tensor apply(const at::Tensor& x, Side side) const;
  // R as a dense float64 matrix (tests and analysis; O(d²) memory).
  [[nodiscard]] at::Tensor dense() const;

  [[nodiscard]] MatrixKind kind() const { return kind_; }
  [[nodiscard]] std::int64_t dim() const { return dim_; }
  [[nodiscard]] bool is_identity() const { return kind_ == MatrixKind::kIdentity; }
  // Bytes of secret state the enclave holds for this transform.
  [[nodiscard]] std::int64_t secret_bytes() const;

 private:
  at::Tensor structured(const at::Tensor& x, bool inverse) const;

  MatrixKind kind_ = MatrixKind::kIdentity;
  std::int64_t dim_ = 0;
  at::Tensor r_, r_inv_;  // dense kinds, float32 (r_inv_ undefined for orthogonal)
  // hadamard: per round signs (float32) and permutations; the last entry has no Hadamard after it.
  std::vector<at::Tensor> signs_, perms_, inv_perms_;
  KroneckerTransform kron_;  // kronecker
  at::Tensor blocks32_, blocks64_;          // block-diagonal, [n, b, b]
  at::Tensor perm_, perm_inv_, psigns_;     // signed-permutation (signs float64)
};

// x·H over the last dimension, H the normalised block Hadamard matrix of size x.size(-1): blocks
// of the powers of two in its binary expansion (largest first), each block a Kronecker product of
// Sylvester factors of at most 64 (O(d log d) multiply-adds, as BLAS calls). H = Hᵀ = H⁻¹.
[[nodiscard]] at::Tensor block_hadamard(const at::Tensor& x);

}  // namespace veil::designs::obfuscatune
