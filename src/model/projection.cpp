#include "veil/model/projection.h"

#include <array>

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

std::string proj_module_path(Family family, int layer, Proj p) {
  if (p == Proj::kLmHead) return "lm_head";
  auto l = std::to_string(layer);
  if (family == Family::kGpt2) {
    const char* sub = (p == Proj::kCAttn || p == Proj::kAttnCProj) ? ".attn." : ".mlp.";
    return "transformer.h." + l + sub + std::string(proj_module_name(p));
  }
  const bool attn = p == Proj::kQ || p == Proj::kK || p == Proj::kV || p == Proj::kO;
  return "model.layers." + l + (attn ? ".self_attn." : ".mlp.") + std::string(proj_module_name(p));
}

bool proj_stored_transposed(Family family, Proj p) { return family == Family::kGpt2 && p != Proj::kLmHead; }

BlockProjections block_projections(Family family) {
  static constexpr std::array<Proj, 3> kLlamaAttnIn{Proj::kQ, Proj::kK, Proj::kV};
  static constexpr std::array<Proj, 1> kLlamaAttnOut{Proj::kO};
  static constexpr std::array<Proj, 2> kLlamaMlpIn{Proj::kGate, Proj::kUp};
  static constexpr std::array<Proj, 1> kLlamaMlpOut{Proj::kDown};
  static constexpr std::array<Proj, 1> kGpt2AttnIn{Proj::kCAttn};
  static constexpr std::array<Proj, 1> kGpt2AttnOut{Proj::kAttnCProj};
  static constexpr std::array<Proj, 1> kGpt2MlpIn{Proj::kCFc};
  static constexpr std::array<Proj, 1> kGpt2MlpOut{Proj::kMlpCProj};
  if (family == Family::kGpt2) return {kGpt2AttnIn, kGpt2AttnOut, kGpt2MlpIn, kGpt2MlpOut};
  return {kLlamaAttnIn, kLlamaAttnOut, kLlamaMlpIn, kLlamaMlpOut};
}

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
