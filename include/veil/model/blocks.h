// The non-linear building blocks of a transformer: norms, activations, rotary embeddings and the
// attention core. Linear projections are not here: they go through a LinearExecutor.
//
// These are the steps a protected design keeps on the trusted side (the enclave in obfuscatune,
// the data owner in he-lora), so they are free functions on tensors with no hidden state.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "veil/model/config.h"

namespace veil::model {

class KvCache;

[[nodiscard]] at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
[[nodiscard]] at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);
// GPT-2's tanh-approximated GELU ("gelu_new").
[[nodiscard]] at::Tensor gelu_tanh(const at::Tensor& x);
// Llama's SwiGLU activation, silu(gate) · up, for same-shaped gate and up.
// Both run as fused single-pass kernels with their own backward for float CPU tensors whose last
// dimension is contiguous (src/model/activations.cpp), and as ATen ops otherwise.
[[nodiscard]] at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);

// Rotary position embeddings (HF rotate_half convention), with Llama-3 / linear frequency scaling.
class Rope {
 public:
  Rope() = default;
  Rope(const ModelConfig& cfg, std::int64_t max_positions);
  // Rotates x of shape [B, heads, T, head_dim] for absolute positions offset .. offset+T-1.
  [[nodiscard]] at::Tensor apply(const at::Tensor& x, std::int64_t offset) const;
  [[nodiscard]] const at::Tensor& inv_freq() const { return inv_freq_; }

 private:
  at::Tensor inv_freq_;  // [head_dim/2], float32 as HF computes it
  at::Tensor cos_, sin_; // [max_positions, head_dim]
};

// Inverse frequencies of RoPE, including rope_scaling (exposed for tests).
[[nodiscard]] at::Tensor rope_inv_freq(const ModelConfig& cfg);

// Causal scaled-dot-product attention with grouped-query heads and an optional KV cache.
//   q: [B, T, num_heads * head_dim], k, v: [B, T, num_kv_heads * head_dim] (after projection)
// Applies RoPE first when `rope` is given. With `cache`, k/v are appended at `layer` and the query
// attends to every cached position. Returns [B, T, num_heads * head_dim].
[[nodiscard]] at::Tensor attention_core(const ModelConfig& cfg, const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, const Rope* rope, KvCache* cache, int layer,
                                        std::int64_t offset);

}  // namespace veil::model
