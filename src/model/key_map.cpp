// Import, export and initialisation of a family's weights, driven by its key map (family.h):
// the same data names a tensor on the way in and on the way out.
#include <ATen/ATen.h>

#include "veil/model/family.h"
#include "veil/util/check.h"
#include "weight_reader.h"

namespace veil::model {
namespace {

bool per_block(ParamSlot s) {
  return s == ParamSlot::kNorm1W || s == ParamSlot::kNorm1B || s == ParamSlot::kNorm2W || s == ParamSlot::kNorm2B;
}
bool is_final(ParamSlot s) { return s == ParamSlot::kFinalNormW || s == ParamSlot::kFinalNormB; }

at::Tensor& slot(ModelParams& p, BlockParams* b, ParamSlot s) {
  switch (s) {
    case ParamSlot::kTokEmb: return p.tok_emb;
    case ParamSlot::kPosEmb: return p.pos_emb;
    case ParamSlot::kNorm1W: return b->norm1_w;
    case ParamSlot::kNorm1B: return b->norm1_b;
    case ParamSlot::kNorm2W: return b->norm2_w;
    case ParamSlot::kNorm2B: return b->norm2_b;
    case ParamSlot::kFinalNormW: return p.final_norm_w;
    case ParamSlot::kFinalNormB: return p.final_norm_b;
  }
  throw std::logic_error("unknown parameter slot");
}
const at::Tensor& slot(const ModelParams& p, const BlockParams* b, ParamSlot s) {
  return slot(const_cast<ModelParams&>(p), const_cast<BlockParams*>(b), s);
}

std::vector<std::int64_t> slot_shape(const ModelConfig& c, ParamSlot s) {
  if (s == ParamSlot::kTokEmb) return {c.vocab_size, c.hidden_size};
  if (s == ParamSlot::kPosEmb) return {c.max_position_embeddings, c.hidden_size};
  return {c.hidden_size};
}

Init slot_init(ParamSlot s) {
  switch (s) {
    case ParamSlot::kTokEmb:
    case ParamSlot::kPosEmb: return Init::kNormal;
    case ParamSlot::kNorm1B:
    case ParamSlot::kNorm2B:
    case ParamSlot::kFinalNormB: return Init::kZeros;
    default: return Init::kOnes;
  }
}

// Visits the layout in checkpoint order: embeddings, blocks (norms, projections), final norm.
// on_param(key, slot, block or null); on_proj(layer, key).
template <typename OnParam, typename OnProj>
void walk(const ModelConfig& c, const KeyMap& k, OnParam&& on_param, OnProj&& on_proj) {
  for (const ParamKey& p : k.params)
    if (!per_block(p.slot) && !is_final(p.slot)) on_param(p, -1);
  for (int l = 0; l < c.num_layers; ++l) {
    for (const ParamKey& p : k.params)
      if (per_block(p.slot)) on_param(p, l);
    for (const ProjKey& q : k.projections) on_proj(l, q);
  }
  for (const ParamKey& p : k.params)
    if (is_final(p.slot)) on_param(p, -1);
}

}  // namespace

std::string expand_key(std::string_view key, int layer) {
  std::string out(key);
  if (auto at = out.find("{}"); at != std::string::npos) out.replace(at, 2, std::to_string(layer));
  return out;
}

const ProjKey& proj_key(const FamilyTraits& traits, Proj p) {
  for (const ProjKey& q : traits.keys.projections)
    if (q.proj == p) return q;
  throw std::invalid_argument(util::cat("projection ", proj_module_name(p), " (#", int{proj_wire_id(p)},
                                        ") is not part of a ", traits.name, " model"));
}

const char* param_key(const FamilyTraits& traits, ParamSlot s) {
  for (const ParamKey& p : traits.keys.params)
    if (p.slot == s) return p.key;
  throw std::invalid_argument(util::cat("a ", traits.name, " checkpoint has no tensor for parameter slot #",
                                        static_cast<int>(s)));
}

bool has_bias(const ModelConfig& cfg, BiasRule rule) {
  switch (rule) {
    case BiasRule::kAlways: return true;
    case BiasRule::kIfAttentionBias: return cfg.attention_bias;
    case BiasRule::kIfMlpBias: return cfg.mlp_bias;
  }
  return false;
}

ImportedWeights import_by_key_map(const ModelConfig& c, TensorMap tensors) {
  const KeyMap& k = family_traits(c.family).keys;
  if (const std::string prefix = k.optional_prefix; !prefix.empty()) {
    TensorMap named;
    for (auto& [name, t] : tensors) {
      const bool bare = name.rfind(prefix, 0) != 0 && name != kLmHeadKey;
      named[bare ? prefix + name : name] = t;
    }
    tensors = std::move(named);
  }
  detail::WeightReader r(std::move(tensors));
  ImportedWeights w;
  w.params.blocks.resize(static_cast<std::size_t>(c.num_layers));
  auto on_param = [&](const ParamKey& p, int l) {
    slot(w.params, l >= 0 ? &w.params.blocks[l] : nullptr, p.slot) =
        r.take(l >= 0 ? expand_key(p.key, l) : std::string(p.key), slot_shape(c, p.slot));
  };
  for (int l = 0; l < c.num_layers; ++l)
    for (const char* key : k.ignored) r.ignore(expand_key(key, l));
  auto on_proj = [&](int l, const ProjKey& q) {
    auto [out, in] = proj_shape(c, q.proj);
    const std::string path = expand_key(q.module, l);
    w.linear[{l, q.proj}] = k.transposed ? r.take(path + ".weight", {in, out}).t().contiguous()
                                         : r.take(path + ".weight", {out, in});
    if (has_bias(c, q.bias)) w.params.blocks[l].bias[q.proj] = r.take(path + ".bias", {out});
  };
  walk(c, k, on_param, on_proj);
  w.linear[{static_cast<int>(c.num_layers), Proj::kLmHead}] = r.take_lm_head(c, w.params.tok_emb);
  r.finish();
  return w;
}

TensorMap export_by_key_map(const ModelConfig& c, const ModelParams& p, const LinearWeights& linear) {
  const KeyMap& k = family_traits(c.family).keys;
  TensorMap t;
  auto on_param = [&](const ParamKey& key, int l) {
    t[l >= 0 ? expand_key(key.key, l) : std::string(key.key)] = slot(p, l >= 0 ? &p.blocks[l] : nullptr, key.slot);
  };
  auto on_proj = [&](int l, const ProjKey& q) {
    const std::string path = expand_key(q.module, l);
    const at::Tensor& wt = linear.at({l, q.proj});
    t[path + ".weight"] = k.transposed ? wt.t().contiguous() : wt;
    if (auto it = p.blocks[l].bias.find(q.proj); it != p.blocks[l].bias.end()) t[path + ".bias"] = it->second;
  };
  walk(c, k, on_param, on_proj);
  if (!c.tie_word_embeddings) t[kLmHeadKey] = linear.at({static_cast<int>(c.num_layers), Proj::kLmHead});
  return t;
}

ImportedWeights init_weights(const ModelConfig& c, const TensorFactory& make) {
  const KeyMap& k = family_traits(c.family).keys;
  ImportedWeights w;
  w.params.blocks.resize(static_cast<std::size_t>(c.num_layers));
  auto on_param = [&](const ParamKey& key, int l) {
    slot(w.params, l >= 0 ? &w.params.blocks[l] : nullptr, key.slot) = make(slot_shape(c, key.slot), slot_init(key.slot));
  };
  auto on_proj = [&](int l, const ProjKey& q) {
    auto [out, in] = proj_shape(c, q.proj);
    w.linear[{l, q.proj}] = make({out, in}, Init::kNormal);
    if (has_bias(c, q.bias)) w.params.blocks[l].bias[q.proj] = make({out}, Init::kZeros);
  };
  walk(c, k, on_param, on_proj);
  w.linear[{static_cast<int>(c.num_layers), Proj::kLmHead}] =
      c.tie_word_embeddings ? w.params.tok_emb : make({c.vocab_size, c.hidden_size}, Init::kNormal);
  return w;
}

}  // namespace veil::model
