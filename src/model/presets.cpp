#include "veil/model/presets.h"

#include <stdexcept>
#include <utility>

namespace veil::model {
namespace {

ModelConfig gpt2(std::int64_t layers, std::int64_t hidden, std::int64_t heads) {
  ModelConfig c;
  c.family = Family::kGpt2;
  c.vocab_size = 50257;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = c.num_kv_heads = heads;
  c.head_dim = hidden / heads;
  c.intermediate_size = 4 * hidden;
  c.max_position_embeddings = 1024;
  c.norm_eps = 1e-5;
  c.hidden_act = "gelu_new";
  c.tie_word_embeddings = true;
  c.attention_bias = c.mlp_bias = true;
  c.bos_token_id = 50256;
  c.eos_token_ids = {50256};
  return c;
}

ModelConfig llama3_2(std::int64_t layers, std::int64_t hidden, std::int64_t heads, std::int64_t head_dim,
                     std::int64_t mlp) {
  ModelConfig c;
  c.family = Family::kLlama;
  c.vocab_size = 128256;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = 8;
  c.head_dim = head_dim;
  c.intermediate_size = mlp;
  c.max_position_embeddings = 131072;
  c.norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = RopeScaling{"llama3", 32.0, 1.0, 4.0, 8192};
  c.hidden_act = "silu";
  c.tie_word_embeddings = true;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  return c;
}

using Builder = ModelConfig (*)();
constexpr std::pair<const char*, Builder> kPresets[] = {
    {"gpt2-small", gpt2_small},   {"gpt2-medium", gpt2_medium}, {"gpt2-xl", gpt2_xl},       {"llama-3.2-1b", llama3_2_1b},
    {"llama-3.2-3b", llama3_2_3b}, {"tiny-llama", tiny_llama},   {"tiny-gpt2", tiny_gpt2},
};

}  // namespace

ModelConfig gpt2_small() { return gpt2(12, 768, 12); }
ModelConfig gpt2_medium() { return gpt2(24, 1024, 16); }
ModelConfig gpt2_xl() { return gpt2(48, 1600, 25); }
ModelConfig llama3_2_1b() { return llama3_2(16, 2048, 32, 64, 8192); }
ModelConfig llama3_2_3b() { return llama3_2(28, 3072, 24, 128, 8192); }

ModelConfig tiny_llama() {
  ModelConfig c = llama3_2(2, 32, 4, 8, 96);
  c.num_kv_heads = 2;
  c.max_position_embeddings = 2048;
  return c;
}

ModelConfig tiny_gpt2() {
  ModelConfig c = gpt2(2, 32, 2);
  c.max_position_embeddings = 256;
  return c;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& [name, build] : kPresets) out.emplace_back(name);
  return out;
}

ModelConfig preset(std::string_view name) {
  for (const auto& [n, build] : kPresets)
    if (name == n) return build();
  std::string known;
  for (const auto& [n, build] : kPresets) known += (known.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument("unknown model preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace veil::model
