// Model hyper-parameters, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace veil::model {

// The model families. What Veil knows about each one (config fields, checkpoint key map, block
// groups, positions, init) is its FamilyTraits value (family.h), registered in family.cpp.
enum class Family { kGpt2, kLlama };

// The family's model_type ("gpt2", "llama"). Throws std::invalid_argument for an unregistered family.
[[nodiscard]] const char* family_name(Family f);

// Llama-3 style frequency-dependent RoPE scaling ("rope_type": "llama3"), or "linear".
struct RopeScaling {
  std::string type = "llama3";
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Family family = Family::kLlama;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // Llama: bias on q/k/v/o; GPT-2 always has biases
  bool mlp_bias = false;
  std::string hidden_act;  // "silu" (Llama) or "gelu_new" (GPT-2)
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;

  // Parses an HF config of a registered family (by model_type, else architectures[0]; the
  // family's traits parse the fields) and validates it. Throws std::invalid_argument naming the
  // field for unknown architectures (listing the known ones), missing or inconsistent fields.
  [[nodiscard]] static ModelConfig from_json(const nlohmann::json& j);
  [[nodiscard]] static ModelConfig from_file(const std::filesystem::path& config_json);
  // The HF config.json for this model.
  [[nodiscard]] nlohmann::json to_json() const;

  void validate() const;  // throws std::invalid_argument
  [[nodiscard]] std::int64_t q_dim() const { return num_heads * head_dim; }
  [[nodiscard]] std::int64_t kv_dim() const { return num_kv_heads * head_dim; }
  // Parameter count of the base model (tied embeddings counted once).
  [[nodiscard]] std::int64_t num_parameters() const;
};

}  // namespace veil::model
