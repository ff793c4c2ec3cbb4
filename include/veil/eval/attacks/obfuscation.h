// What a worker can compute from obfuscated weights and public knowledge.
//
// A design that hands out W' = W·R (R secret, acting on the input dimension of a [out, in]
// weight) and sends activations X·R keeps the products X·Wᵀ = (X·R)·W'ᵀ only if R⁻¹ stays
// hidden. Against such schemes the worker can:
//   - test invariants: with R orthogonal, W'·W'ᵀ = W·Wᵀ, so the Gram matrix identifies which
//     public model (and layer) was obfuscated;
//   - recover R from the public base weights (known plaintext): the orthogonal Procrustes
//     solution for orthogonal R, least squares for a general (e.g. Gaussian) R;
//   - undo R on the activations it receives, then invert them to tokens.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace veil::eval {

// ‖W·Wᵀ − W'·W'ᵀ‖_F / ‖W·Wᵀ‖_F: ~0 when W' = W·R with R orthogonal (any R of that kind).
[[nodiscard]] double gram_distance(const at::Tensor& w_public, const at::Tensor& w_obfuscated);

struct KeyRecovery {
  std::string method;        // "procrustes" | "least-squares"
  at::Tensor key;            // R̂ [in, in]: obfuscated ≈ plain · R̂
  double relative_error = 0; // ‖plain · R̂ − obfuscated‖_F / ‖obfuscated‖_F
};

// Orthogonal Procrustes: R̂ = U·Vᵀ where Aᵀ·A' = U·S·Vᵀ, for pairs A' ≈ A·R (rows are samples:
// weight rows, or known-plaintext activations). Throws std::invalid_argument on shape mismatch.
[[nodiscard]] KeyRecovery recover_orthogonal_key(const at::Tensor& plain, const at::Tensor& obfuscated);
// Least squares: R̂ = argmin ‖A·R − A'‖ (needs at least `in` independent rows).
[[nodiscard]] KeyRecovery recover_linear_key(const at::Tensor& plain, const at::Tensor& obfuscated);

// X = X'·R̂⁻¹ (pseudo-inverse) for obfuscated activations X' [.., in].
[[nodiscard]] at::Tensor undo_key(const at::Tensor& obfuscated_activations, const at::Tensor& key);

}  // namespace veil::eval
