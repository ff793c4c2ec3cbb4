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
#include <vector>

#include <ATen/core/Tensor.h>

namespace veil::model {
class CausalLM;
}

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

// Two-sided keys (obfuscatune's full variant): a worker holds W*_i = A_i·W_i·R for projections i
// that share one input key R (q/k/v; gate/up), with A_i (output keys, one per projection) and R
// orthogonal, and receives x·R. Then W*_iᵀ·W*_i = Rᵀ·(W_iᵀ·W_i)·R: the Gram matrices of the group
// are conjugated by the same R, so the eigenvectors of Σ_i c_i·G_i and Σ_i c_i·G*_i give R up to
// one sign per eigenvector, and a second combination (Σ_i c_i²·G_i) fixes the signs (the
// sign-agreement matrix's leading eigenvector). Each A_i is then Procrustes on (W_i·R, W*_i).
// One projection alone leaves the signs free (W* = (P*·S·Pᵀ)·W·(U·S·U*ᵀ) for any signs S), so at
// least two are needed. The same attack on transposed weights recovers a shared OUTPUT key, e.g.
// matched Q/K matrices W*_q = Mᵀ·W_q, W*_k = M⁻¹·W_k with M orthogonal.
struct TwoSidedKeyRecovery {
  at::Tensor input_key;                 // R̂ [in, in]: x·R = x* ⇒ x = x*·R̂ᵀ
  std::vector<at::Tensor> output_keys;  // Â_i [out_i, out_i]
  double relative_error = 0;            // max_i ‖Â_i·W_i·R̂ − W*_i‖_F / ‖W*_i‖_F
  double spectrum_distance = 0;         // max_i relative distance of the singular values (≈0: same layer)
};
// Throws std::invalid_argument for fewer than two pairs or shapes that do not match.
[[nodiscard]] TwoSidedKeyRecovery recover_two_sided_key(const std::vector<at::Tensor>& plain,
                                                        const std::vector<at::Tensor>& obfuscated);

// Tokens from the normed inputs of block 0's attention (what q/k/v multiply, [N, hidden]): each
// row's nearest neighbour among every vocabulary token's own normed embedding (exact for models
// without learned positions; GPT-2's position 0 otherwise). With `pick_sign`, x and −x are both
// tried and the one whose rows lie nearer the table in total is inverted (a recovered key is only
// known up to its sign). Returns ids [N].
[[nodiscard]] at::Tensor invert_attention_inputs(model::CausalLM& public_model, const at::Tensor& x,
                                                 bool pick_sign = false);

// X = X'·R̂⁻¹ (pseudo-inverse) for obfuscated activations X' [.., in].
[[nodiscard]] at::Tensor undo_key(const at::Tensor& obfuscated_activations, const at::Tensor& key);

}  // namespace veil::eval
