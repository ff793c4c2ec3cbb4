// The linear projections of a transformer, named the way Hugging Face names their modules.
#pragma once

#include <cstdint>
#include <compare>
#include <span>
#include <string>
#include <string_view>

#include "veil/model/config.h"

namespace veil::model {

// The numbers are wire ids (designs send them in messages and audit logs): fixed, never reused.
// A new family appends its projections with new numbers.
enum class Proj : std::uint8_t {
  // Llama
  kQ = 0,
  kK = 1,
  kV = 2,
  kO = 3,
  kGate = 4,
  kUp = 5,
  kDown = 6,
  // GPT-2 (Conv1D modules; Veil stores their weights transposed to [out, in] like nn.Linear)
  kCAttn = 7,      // attn.c_attn: fused q|k|v
  kAttnCProj = 8,  // attn.c_proj
  kCFc = 9,        // mlp.c_fc
  kMlpCProj = 10,  // mlp.c_proj
  // Both
  kLmHead = 11,
};

// The projection with wire id `id` (as decoded from a message). Throws std::invalid_argument
// naming the id when it is no projection.
[[nodiscard]] Proj proj_from_wire(std::int64_t id);
// The wire id of `p` (the inverse of proj_from_wire).
[[nodiscard]] constexpr std::uint8_t proj_wire_id(Proj p) { return static_cast<std::uint8_t>(p); }

// Short module name as PEFT's target_modules use it: "q_proj", "c_attn", "c_proj", "lm_head".
[[nodiscard]] std::string_view proj_module_name(Proj p);
// Module path inside the HF model, e.g. "model.layers.3.self_attn.q_proj",
// "transformer.h.3.mlp.c_proj", "lm_head", from the family's key map (family.h). Throws
// std::invalid_argument for an unregistered family or a projection the family does not have.
[[nodiscard]] std::string proj_module_path(Family family, int layer, Proj p);

// True when checkpoints store the projection's weight as [in, out] (GPT-2's Conv1D modules)
// rather than nn.Linear's [out, in] (Llama, and every LM head). Throws as proj_module_path.
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
// From the family's traits; throws std::invalid_argument for an unregistered family.
[[nodiscard]] BlockProjections block_projections(Family family);

// Shape [out, in] of a projection's weight.
[[nodiscard]] std::pair<std::int64_t, std::int64_t> proj_shape(const ModelConfig& cfg, Proj p);

}  // namespace veil::model
