// Llama (LlamaForCausalLM): RMSNorm, rotary positions (with Llama-3 scaling), grouped-query
// attention, SwiGLU MLP, tied or untied embeddings. Its traits (config fields, key map, init) are at
// the end of the file.
#include <ATen/ATen.h>

#include "config_fields.h"
#include "veil/model/family.h"

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

constexpr ParamKey kParams[] = {
    {ParamSlot::kTokEmb, "model.embed_tokens.weight"},
    {ParamSlot::kNorm1W, "model.layers.{}.input_layernorm.weight"},
    {ParamSlot::kNorm2W, "model.layers.{}.post_attention_layernorm.weight"},
    {ParamSlot::kFinalNormW, "model.norm.weight"},
};
constexpr ProjKey kProjs[] = {
    {Proj::kQ, "model.layers.{}.self_attn.q_proj", BiasRule::kIfAttentionBias},
    {Proj::kK, "model.layers.{}.self_attn.k_proj", BiasRule::kIfAttentionBias},
    {Proj::kV, "model.layers.{}.self_attn.v_proj", BiasRule::kIfAttentionBias},
    {Proj::kO, "model.layers.{}.self_attn.o_proj", BiasRule::kIfAttentionBias},
    {Proj::kGate, "model.layers.{}.mlp.gate_proj", BiasRule::kIfMlpBias},
    {Proj::kUp, "model.layers.{}.mlp.up_proj", BiasRule::kIfMlpBias},
    {Proj::kDown, "model.layers.{}.mlp.down_proj", BiasRule::kIfMlpBias},
};
constexpr const char* kIgnored[] = {"model.layers.{}.self_attn.rotary_emb.inv_freq"};  // a buffer some exporters keep

std::optional<RopeScaling> parse_rope_scaling(const nlohmann::json& j) {
  using detail::get_or, detail::require;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return std::nullopt;
  VEIL_CHECK_ARG(it->is_object(), "config.json: rope_scaling must be an object or null");
  RopeScaling s;
  s.type = get_or<std::string>(*it, "rope_type", get_or<std::string>(*it, "type", ""));
  VEIL_CHECK_ARG(s.type == "llama3" || s.type == "linear" || s.type == "default",
                 "config.json: unsupported rope_scaling type '", s.type, "' (supported: llama3, linear, default)");
  if (s.type == "default") return std::nullopt;
  s.factor = require<double>(*it, "factor");
  VEIL_CHECK_ARG(s.factor > 0, "config.json: rope_scaling.factor must be positive");
  if (s.type == "llama3") {
    s.low_freq_factor = require<double>(*it, "low_freq_factor");
    s.high_freq_factor = require<double>(*it, "high_freq_factor");
    s.original_max_position_embeddings = require<std::int64_t>(*it, "original_max_position_embeddings");
    VEIL_CHECK_ARG(s.high_freq_factor > s.low_freq_factor,
                   "config.json: rope_scaling.high_freq_factor must exceed low_freq_factor");
  }
  return s;
}

ModelConfig parse_config(const nlohmann::json& j) {
  using detail::get_or, detail::require, detail::token_ids;
  ModelConfig c;
  c.family = Family::kLlama;
  c.vocab_size = require<std::int64_t>(j, "vocab_size");
  c.hidden_size = require<std::int64_t>(j, "hidden_size");
  c.num_layers = require<std::int64_t>(j, "num_hidden_layers");
  c.num_heads = require<std::int64_t>(j, "num_attention_heads");
  c.num_kv_heads = get_or<std::int64_t>(j, "num_key_value_heads", c.num_heads);
  VEIL_CHECK_ARG(c.num_heads > 0, "config.json: num_attention_heads must be positive");
  c.head_dim = get_or<std::int64_t>(j, "head_dim", c.hidden_size / c.num_heads);
  c.intermediate_size = require<std::int64_t>(j, "intermediate_size");
  c.max_position_embeddings = get_or<std::int64_t>(j, "max_position_embeddings", 2048);
  c.norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0);
  c.hidden_act = get_or<std::string>(j, "hidden_act", "silu");
  VEIL_CHECK_ARG(c.hidden_act == "silu", "config.json: unsupported Llama hidden_act '", c.hidden_act,
                 "' (supported: silu)");
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false);
  c.attention_bias = get_or<bool>(j, "attention_bias", false);
  c.mlp_bias = get_or<bool>(j, "mlp_bias", false);
  c.rope_scaling = parse_rope_scaling(j);
  auto bos = token_ids(j, "bos_token_id");
  if (!bos.empty()) c.bos_token_id = bos.front();
  c.eos_token_ids = token_ids(j, "eos_token_id");
  return c;
}

nlohmann::json config_json(const ModelConfig& c) {
  nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", "llama"},
                      {"vocab_size", c.vocab_size},
                      {"hidden_size", c.hidden_size},
                      {"num_hidden_layers", c.num_layers},
                      {"num_attention_heads", c.num_heads},
                      {"num_key_value_heads", c.num_kv_heads},
                      {"head_dim", c.head_dim},
                      {"intermediate_size", c.intermediate_size},
                      {"max_position_embeddings", c.max_position_embeddings},
                      {"rms_norm_eps", c.norm_eps},
                      {"rope_theta", c.rope_theta},
                      {"hidden_act", c.hidden_act},
                      {"attention_bias", c.attention_bias},
                      {"mlp_bias", c.mlp_bias},
                      {"tie_word_embeddings", c.tie_word_embeddings},
                      {"torch_dtype", "float32"}};
  if (const auto& s = c.rope_scaling) {
    j["rope_scaling"] = {{"rope_type", s->type}, {"factor", s->factor}};
    if (s->type == "llama3") {
      j["rope_scaling"]["low_freq_factor"] = s->low_freq_factor;
      j["rope_scaling"]["high_freq_factor"] = s->high_freq_factor;
      j["rope_scaling"]["original_max_position_embeddings"] = s->original_max_position_embeddings;
    }
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j;
}

void hf_extras(nlohmann::json& config, nlohmann::json& generation_config) {
  config["attention_dropout"] = 0.0;
  config["pretraining_tp"] = 1;
  generation_config["_from_model_config"] = false;
  generation_config["do_sample"] = true;
  generation_config["temperature"] = 0.6;
  generation_config["top_p"] = 0.9;
}

double init_std(const ModelConfig& /*c*/, std::string_view /*tensor*/, double std) { return std; }

std::unique_ptr<CausalLM> make_llama(ModelConfig c, ModelParams p, std::shared_ptr<LinearExecutor> e) {
  return std::make_unique<LlamaModel>(std::move(c), std::move(p), std::move(e));
}

}  // namespace

extern const FamilyTraits kLlamaTraits{
    .family = Family::kLlama,
    .name = "llama",
    .architecture = "LlamaForCausalLM",
    .tokenizer = "llama3",
    .positions = Positions::kRope,
    .norm = Norm::kRms,
    .blocks = {kQkv, kO, kGateUp, kDown},
    .keys = {.params = kParams, .projections = kProjs, .ignored = kIgnored},
    .parse_config = parse_config,
    .config_json = config_json,
    .hf_extras = hf_extras,
    .init_std = init_std,
    .import_weights = import_by_key_map,
    .export_weights = export_by_key_map,
    .make = make_llama,
};

}  // namespace veil::model
