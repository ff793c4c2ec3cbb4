// The matched variant of obfuscatune (docs/designs/obfuscatune.md, "The matched variant"): the
// enclave computes attention and the MLP activation on obfuscated tensors instead of restoring
// them, with transforms chosen so that those steps commute with them:
//
//   q, k    ·R_qk   per (kv-)head orthogonal; for Llama 2×2 rotations of each RoPE frequency pair
//                   (what commutes with RoPE), for GPT-2 a Haar block: Q·R·(K·R)ᵀ = Q·Kᵀ
//   v       ·R_v    per kv-head Haar block; softmax·(V·R_v) = (softmax·V)·R_v is o_proj's input,
//                   and o_proj's obfuscated weight absorbs R_v⁻¹ (its input side)
//   gate/up, c_fc   a secret permutation P (and, for up, signs D): silu(g·P)⊙(u·P·D) =
//                   (silu(g)⊙u)·P·D and gelu(h·P) = gelu(h)·P are down's input, whose weight
//                   absorbs (P·D)⁻¹
//
// Biases and LoRA stay in the enclave and move into those coordinates through their small
// factors (b·R, Bᵀ·R, A·R), so the adapter trains and exports in the plaintext coordinates.
#pragma once

#include <map>
#include <memory>

#include "veil/designs/obfuscatune/executor.h"
#include "veil/designs/obfuscatune/secret_rng.h"
#include "veil/designs/obfuscatune/transform.h"
#include "veil/model/causal_lm.h"

namespace veil::designs::obfuscatune {

// The matched variant's transforms of one layer.
struct MatchedLayer {
  std::map<model::Proj, SecretTransform> kept_out;       // outputs the enclave uses obfuscated
  std::map<model::Proj, SecretTransform> preapplied_in;  // group inputs (key: the group's first
                                                         // projection) that arrive obfuscated
};
// With mlp_full the MLP gets no matched transforms (the executor draws, restores and applies its
// own, as in the full variant).
[[nodiscard]] MatchedLayer draw_matched_layer(const model::ModelConfig& cfg, SecretRng& rng, bool mlp_full = false);

// The enclave's model for the matched variant (GPT-2 or Llama): the same steps as the plain
// families, with q/k/v, the attention output and the MLP activation in obfuscated coordinates.
// Activation hooks still see plaintext (restored only when a hook is set).
[[nodiscard]] std::unique_ptr<model::CausalLM> make_matched_model(model::ModelConfig cfg, model::ModelParams params,
                                                                  std::shared_ptr<ObfuscatedExecutor> executor);

}  // namespace veil::designs::obfuscatune
