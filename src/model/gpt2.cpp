// GPT-2 (GPT2LMHeadModel): learned positions, LayerNorm, tanh-GELU, fused c_attn. HF stores its
// Conv1D weights as [in, out]; Veil keeps them as [out, in] like every other linear weight.
// Its traits (config fields, key map, init) are at the end of the file.
#include <ATen/ATen.h>

#include <cmath>

#include "config_fields.h"
#include "veil/model/family.h"

namespace veil::model {
namespace {

constexpr Proj kCAttn[] = {Proj::kCAttn};
constexpr Proj kAttnProj[] = {Proj::kAttnCProj};
constexpr Proj kFc[] = {Proj::kCFc};
constexpr Proj kMlpProj[] = {Proj::kMlpCProj};

class Gpt2Model final : public CausalLM {
 public:
  using CausalLM::CausalLM;

  at::Tensor embed(const at::Tensor& ids, std::int64_t offset) override {
    auto pos = at::arange(offset, offset + ids.size(1), at::kLong);
    return at::embedding(params_.tok_emb, ids) + at::embedding(params_.pos_emb, pos);
  }

  at::Tensor block(int l, const at::Tensor& h, KvCache* cache, std::int64_t offset) override {
    const BlockParams& p = params_.blocks[l];
    at::Tensor x = layer_norm(h, p.norm1_w, p.norm1_b, cfg_.norm_eps);
    emit("attn_norm", l, x);
    at::Tensor qkv = project(l, kCAttn, x)[0];
    auto parts = qkv.split(cfg_.hidden_size, -1);
    emit("q", l, parts[0]);
    emit("k", l, parts[1]);
    emit("v", l, parts[2]);
    at::Tensor a = attention_core(cfg_, parts[0], parts[1], parts[2], nullptr, cache, l, offset);
    emit("attn", l, a);
    at::Tensor h1 = h + project(l, kAttnProj, a)[0];
    x = layer_norm(h1, p.norm2_w, p.norm2_b, cfg_.norm_eps);
    emit("mlp_norm", l, x);
    at::Tensor act = gelu_tanh(project(l, kFc, x)[0]);
    emit("mlp_act", l, act);
    return h1 + project(l, kMlpProj, act)[0];
  }

  at::Tensor final_norm(const at::Tensor& h) override {
    return layer_norm(h, params_.final_norm_w, params_.final_norm_b, cfg_.norm_eps);
  }
};

constexpr ParamKey kParams[] = {
    {ParamSlot::kTokEmb, "transformer.wte.weight"},     {ParamSlot::kPosEmb, "transformer.wpe.weight"},
    {ParamSlot::kNorm1W, "transformer.h.{}.ln_1.weight"}, {ParamSlot::kNorm1B, "transformer.h.{}.ln_1.bias"},
    {ParamSlot::kNorm2W, "transformer.h.{}.ln_2.weight"}, {ParamSlot::kNorm2B, "transformer.h.{}.ln_2.bias"},
    {ParamSlot::kFinalNormW, "transformer.ln_f.weight"},  {ParamSlot::kFinalNormB, "transformer.ln_f.bias"},
};
constexpr ProjKey kProjs[] = {
    {Proj::kCAttn, "transformer.h.{}.attn.c_attn", BiasRule::kAlways},
    {Proj::kAttnCProj, "transformer.h.{}.attn.c_proj", BiasRule::kAlways},
    {Proj::kCFc, "transformer.h.{}.mlp.c_fc", BiasRule::kAlways},
    {Proj::kMlpCProj, "transformer.h.{}.mlp.c_proj", BiasRule::kAlways},
};
// Causal-mask buffers of older exports.
constexpr const char* kIgnored[] = {"transformer.h.{}.attn.bias", "transformer.h.{}.attn.masked_bias"};

ModelConfig parse_config(const nlohmann::json& j) {
  using detail::get_or, detail::require, detail::token_ids;
  ModelConfig c;
  c.family = Family::kGpt2;
  c.vocab_size = require<std::int64_t>(j, "vocab_size");
  c.hidden_size = require<std::int64_t>(j, "n_embd");
  c.num_layers = require<std::int64_t>(j, "n_layer");
  c.num_heads = require<std::int64_t>(j, "n_head");
  c.num_kv_heads = c.num_heads;
  VEIL_CHECK_ARG(c.num_heads > 0 && c.hidden_size % c.num_heads == 0, "config.json: n_embd (", c.hidden_size,
                 ") must be a multiple of n_head (", c.num_heads, ")");
  c.head_dim = c.hidden_size / c.num_heads;
  c.intermediate_size = get_or<std::int64_t>(j, "n_inner", 4 * c.hidden_size);
  c.max_position_embeddings = get_or<std::int64_t>(j, "n_positions", get_or<std::int64_t>(j, "n_ctx", 1024));
  c.norm_eps = get_or<double>(j, "layer_norm_epsilon", 1e-5);
  c.hidden_act = get_or<std::string>(j, "activation_function", "gelu_new");
  VEIL_CHECK_ARG(c.hidden_act == "gelu_new" || c.hidden_act == "gelu_pytorch_tanh",
                 "config.json: unsupported GPT-2 activation_function '", c.hidden_act, "' (supported: gelu_new)");
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", true);
  c.attention_bias = true;
  c.mlp_bias = true;
  auto bos = token_ids(j, "bos_token_id");
  c.bos_token_id = bos.empty() ? std::optional<std::int64_t>(50256) : bos.front();
  c.eos_token_ids = token_ids(j, "eos_token_id");
  if (c.eos_token_ids.empty()) c.eos_token_ids = {50256};
  return c;
}

nlohmann::json config_json(const ModelConfig& c) {
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"vocab_size", c.vocab_size},
          {"n_embd", c.hidden_size},
          {"n_layer", c.num_layers},
          {"n_head", c.num_heads},
          {"n_inner", c.intermediate_size},
          {"n_positions", c.max_position_embeddings},
          {"n_ctx", c.max_position_embeddings},
          {"layer_norm_epsilon", c.norm_eps},
          {"activation_function", c.hidden_act},
          {"tie_word_embeddings", c.tie_word_embeddings}};
}

void hf_extras(nlohmann::json& config, nlohmann::json& /*generation_config*/) {
  config["resid_pdrop"] = config["embd_pdrop"] = config["attn_pdrop"] = 0.1;
  config["summary_type"] = "cls_index";
}

// HF GPT2PreTrainedModel scales the residual projections' init by 1/sqrt(2 * layers).
double init_std(const ModelConfig& c, std::string_view tensor, double std) {
  constexpr std::string_view kResidual = "c_proj.weight";
  const bool residual = tensor.size() >= kResidual.size() && tensor.substr(tensor.size() - kResidual.size()) == kResidual;
  return residual ? std / std::sqrt(2.0 * static_cast<double>(c.num_layers)) : std;
}

std::unique_ptr<CausalLM> make_gpt2(ModelConfig c, ModelParams p, std::shared_ptr<LinearExecutor> e) {
  return std::make_unique<Gpt2Model>(std::move(c), std::move(p), std::move(e));
}

}  // namespace

extern const FamilyTraits kGpt2Traits{
    .family = Family::kGpt2,
    .name = "gpt2",
    .architecture = "GPT2LMHeadModel",
    .tokenizer = "gpt2",
    .positions = Positions::kLearned,
    .norm = Norm::kLayerNorm,
    .blocks = {kCAttn, kAttnProj, kFc, kMlpProj},
    .keys = {.params = kParams, .projections = kProjs, .ignored = kIgnored, .transposed = true,
             .optional_prefix = "transformer."},
    .parse_config = parse_config,
    .config_json = config_json,
    .hf_extras = hf_extras,
    .init_std = init_std,
    .import_weights = import_by_key_map,
    .export_weights = export_by_key_map,
    .make = make_gpt2,
};

}  // namespace veil::model
