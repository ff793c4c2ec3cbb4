// The linear projections of a transformer, named the way Hugging Face names their modules.
#pragma once

#include <cstdint>
#include <compare>
#include <span>
#include <string>
#include <string_view>

#include "veil/model/config.h"

namespace veil::model {

enum class Proj : std::uint8_t {
  // Llama
  kQ, kK, kV, kO, kGate, kUp, kDown,
  // GPT-2 (Conv1D modules; Veil stores their weights transposed to [out, in] like nn.Linear)
  kCAttn,      // attn.c_attn: fused q|k|v
  kAttnCProj,  // attn.c_proj
  kCFc,        // mlp.c_fc
  kMlpCProj,   // mlp.c_proj
  // Both
  kLmHead,
};

// Short module name as PEFT's target_modules use it: "q_proj", "c_attn", "c_proj", "lm_head".
[[nodiscard]] std::string_view proj_module_name(Proj p);
// Module path inside the HF model, e.g. "model.layers.3.self_attn.q_proj",
// "transformer.h.3.mlp.c_proj", "lm_head".
[[nodiscard]] std::string proj_module_path(Family family, int layer, Proj p);

// True when checkpoints store the projection's weight as [in, out] (GPT-2's Conv1D modules)
// rather than nn.Linear's [out, in] (Llama, and every LM head).
[[nodiscard]] bool proj_stored_transposed(Family family, Proj p);

// One projection call site: a layer (the LM head has layer == num_layers) and a projection.
struct LinearSite {
  int layer = 0;
  Proj proj = Proj::kQ;
  auto operator<=>(const LinearSite&) const = default;
};

// The projections of one transformer block, grouped by shared input (a group is computed from
// the same activation: q/k/v; gate/up), in execution order.
struct BlockProjections {
  std::span<const Proj> attn_in;   // Llama {q,k,v}; GPT-2 {c_attn}
  std::span<const Proj> attn_out;  // {o} / {attn.c_proj}
  std::span<const Proj> mlp_in;    // {gate, up} / {c_fc}
  std::span<const Proj> mlp_out;   // {down} / {mlp.c_proj}
};
[[nodiscard]] BlockProjections block_projections(Family family);

// Shape [out, in] of a projection's weight.
[[nodiscard]] std::pair<std::int64_t, std::int64_t> proj_shape(const ModelConfig& cfg, Proj p);

}  // namespace veil::model
