#include "veil/model/projection.h"

#include "veil/model/family.h"
#include "veil/util/check.h"

namespace veil::model {

std::string_view proj_module_name(Proj p) {
  switch (p) {
    case Proj::kQ: return "q_proj";
    case Proj::kK: return "k_proj";
    case Proj::kV: return "v_proj";
    case Proj::kO: return "o_proj";
    case Proj::kGate: return "gate_proj";
    case Proj::kUp: return "up_proj";
    case Proj::kDown: return "down_proj";
    case Proj::kCAttn: return "c_attn";
    case Proj::kAttnCProj: return "c_proj";
    case Proj::kCFc: return "c_fc";
    case Proj::kMlpCProj: return "c_proj";
    case Proj::kLmHead: return "lm_head";
  }
  return "?";
}

Proj proj_from_wire(std::int64_t id) {
  VEIL_CHECK_ARG(id >= 0 && id <= static_cast<std::int64_t>(Proj::kLmHead), "projection id ", id,
                 " is not a projection (valid: 0..", static_cast<int>(Proj::kLmHead), ")");
  return static_cast<Proj>(id);
}

std::string proj_module_path(Family family, int layer, Proj p) {
  if (p == Proj::kLmHead) return "lm_head";
  return expand_key(proj_key(family_traits(family), p).module, layer);
}

bool proj_stored_transposed(Family family, Proj p) {
  return p != Proj::kLmHead && family_traits(family).keys.transposed;
}

BlockProjections block_projections(Family family) { return family_traits(family).blocks; }

std::pair<std::int64_t, std::int64_t> proj_shape(const ModelConfig& c, Proj p) {
  const auto h = c.hidden_size, f = c.intermediate_size;
  switch (p) {
    case Proj::kQ: return {c.q_dim(), h};
    case Proj::kK:
    case Proj::kV: return {c.kv_dim(), h};
    case Proj::kO: return {h, c.q_dim()};
    case Proj::kGate:
    case Proj::kUp: return {f, h};
    case Proj::kDown: return {h, f};
    case Proj::kCAttn: return {3 * h, h};
    case Proj::kAttnCProj: return {h, h};
    case Proj::kCFc: return {f, h};
    case Proj::kMlpCProj: return {h, f};
    case Proj::kLmHead: return {c.vocab_size, h};
  }
  throw std::logic_error("proj_shape: unknown projection");
}

}  // namespace veil::model
