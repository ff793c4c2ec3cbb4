// Tokens and the secret permutation from activations a worker holds up to a permutation and signs
// of their coordinates (after "Hidden No More", ICML '25).
//
// Threat model: obfuscatune's default `matched` variant sends its worker the MLP activation of
// every layer as act* = act·P·D (the input of down: a secret permutation P of the MLP width and,
// on Llama, secret signs D), because silu/gelu commute with nothing else. Each row's multiset of
// absolute values is then the plaintext one. With the public model, the worker decodes the tokens
// left to right: each position's candidates (the `shortlist` tokens whose context-free activation
// has the nearest sorted |values|) are run after the already decoded prefix, and the one whose
// sorted |values| is nearest the observed row's is kept. No permutation is needed for that. With
// the tokens, the public model's plaintext activations give the permutation and signs by matching
// columns (directions over the rows), so every later activation of the run is readable too.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

struct PermutedInversion {
  at::Tensor ids;                     // [B, T] decoded tokens
  std::int64_t columns = 0;           // the MLP width
  std::int64_t columns_matched = 0;   // observed columns mutually matched to a plaintext column
  at::Tensor signed_permutation;      // S [width, width] with act* ≈ act·S, when every column matched
};

// observed: act·P·D at the input of down of block `layer`, rows in [B, T] order ([B·T, width]).
// `key`: when the attacker already holds the signed permutation (down's input key from weight
// recovery, act = act*·keyᵀ), the rows are un-keyed and compared as whole vectors instead of
// sorted magnitudes. Throws std::invalid_argument for a shape that is not the model's MLP width or
// B·T rows.
[[nodiscard]] PermutedInversion invert_permuted_mlp(model::CausalLM& public_model, const at::Tensor& observed,
                                                    std::int64_t batch, int layer = 0, int shortlist = 16,
                                                    double match_cosine = 0.9, const at::Tensor& key = {});

// The MLP activations (input of down) of block `layer` for ids [B, T], by the public model: [B, T, width].
[[nodiscard]] at::Tensor mlp_activations(model::CausalLM& model, const at::Tensor& ids, int layer);

}  // namespace veil::eval
