// Llama (LlamaForCausalLM): RMSNorm, rotary positions (with Llama-3 scaling), grouped-query
// attention, SwiGLU MLP, tied or untied embeddings.
#include <ATen/ATen.h>

#include "veil/model/family.h"
#include "weight_reader.h"

namespace veil::model {
namespace {

constexpr Proj kQkv[] = {Proj::kQ, Proj::kK, Proj::kV};
constexpr Proj kO[] = {Proj::kO};
constexpr Proj kGateUp[] = {Proj::kGate, Proj::kUp};
constexpr Proj kDown[] = {Proj::kDown};

class LlamaModel final : public CausalLM {
 public:
  using CausalLM::CausalLM;

  at::Tensor embed(const at::Tensor& ids, std::int64_t /*offset*/) override {
    return at::embedding(params_.tok_emb, ids);
  }

  at::Tensor block(int l, const at::Tensor& h, KvCache* cache, std::int64_t offset) override {
    const BlockParams& p = params_.blocks[l];
    // Attention.
    at::Tensor x = rms_norm(h, p.norm1_w, cfg_.norm_eps);
    emit("attn_norm", l, x);
    auto qkv = project(l, kQkv, x);
    emit("q", l, qkv[0]);
    emit("k", l, qkv[1]);
    emit("v", l, qkv[2]);
    at::Tensor a = attention_core(cfg_, qkv[0], qkv[1], qkv[2], &rope_, cache, l, offset);
    emit("attn", l, a);
    at::Tensor h1 = h + project(l, kO, a)[0];
    // Feed-forward.
    x = rms_norm(h1, p.norm2_w, cfg_.norm_eps);
    emit("mlp_norm", l, x);
    auto gu = project(l, kGateUp, x);
    at::Tensor act = swiglu(gu[0], gu[1]);
    emit("mlp_act", l, act);
    return h1 + project(l, kDown, act)[0];
  }

  at::Tensor final_norm(const at::Tensor& h) override { return rms_norm(h, params_.final_norm_w, cfg_.norm_eps); }
};

std::string layer_key(int l, const char* rest) { return "model.layers." + std::to_string(l) + "." + rest; }

ImportedWeights import_llama(const ModelConfig& c, TensorMap tensors) {
  detail::WeightReader r(std::move(tensors));
  ImportedWeights w;
  const auto h = c.hidden_size;
  w.params.tok_emb = r.take("model.embed_tokens.weight", {c.vocab_size, h});
  for (int l = 0; l < c.num_layers; ++l) {
    r.ignore(layer_key(l, "self_attn.rotary_emb.inv_freq"));  // a buffer some exporters keep
    BlockParams b;
    b.norm1_w = r.take(layer_key(l, "input_layernorm.weight"), {h});
    b.norm2_w = r.take(layer_key(l, "post_attention_layernorm.weight"), {h});
    for (Proj p : {Proj::kQ, Proj::kK, Proj::kV, Proj::kO, Proj::kGate, Proj::kUp, Proj::kDown}) {
      auto [out, in] = proj_shape(c, p);
      auto path = proj_module_path(c.family, l, p);
      w.linear[{l, p}] = r.take(path + ".weight", {out, in});
      const bool attn = p == Proj::kQ || p == Proj::kK || p == Proj::kV || p == Proj::kO;
      if (attn ? c.attention_bias : c.mlp_bias) b.bias[p] = r.take(path + ".bias", {out});
    }
    w.params.blocks.push_back(std::move(b));
  }
  w.params.final_norm_w = r.take("model.norm.weight", {h});
  w.linear[{static_cast<int>(c.num_layers), Proj::kLmHead}] = r.take_lm_head(c, w.params.tok_emb);
  r.finish();
  return w;
}

TensorMap export_llama(const ModelConfig& c, const ModelParams& p, const LinearWeights& linear) {
  TensorMap t;
  t["model.embed_tokens.weight"] = p.tok_emb;
  for (int l = 0; l < c.num_layers; ++l) {
    const auto& b = p.blocks[l];
    t[layer_key(l, "input_layernorm.weight")] = b.norm1_w;
    t[layer_key(l, "post_attention_layernorm.weight")] = b.norm2_w;
    for (Proj q : {Proj::kQ, Proj::kK, Proj::kV, Proj::kO, Proj::kGate, Proj::kUp, Proj::kDown}) {
      auto path = proj_module_path(c.family, l, q);
      t[path + ".weight"] = linear.at({l, q});
      if (auto it = b.bias.find(q); it != b.bias.end()) t[path + ".bias"] = it->second;
    }
  }
  t["model.norm.weight"] = p.final_norm_w;
  if (!c.tie_word_embeddings) t["lm_head.weight"] = linear.at({static_cast<int>(c.num_layers), Proj::kLmHead});
  return t;
}

std::unique_ptr<CausalLM> make_llama(ModelConfig c, ModelParams p, std::shared_ptr<LinearExecutor> e) {
  return std::make_unique<LlamaModel>(std::move(c), std::move(p), std::move(e));
}

}  // namespace

extern const FamilyTraits kLlamaTraits{import_llama, export_llama, make_llama};

}  // namespace veil::model
