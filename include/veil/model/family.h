// Per-family knowledge, as one registered value per family: config.json parsing, the checkpoint
// key map (as data, used by import, export, `veil init`, the lazy layer reader and PEFT adapters),
// block groups, position handling, norm kind and random init. One implementation file per family
// (gpt2.cpp, llama.cpp); the registry is family.cpp. Callers look a family up here instead of
// switching on it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "veil/model/causal_lm.h"
#include "veil/model/projection.h"

namespace veil::model {

using TensorMap = std::map<std::string, at::Tensor>;

struct ImportedWeights {
  ModelParams params;
  LinearWeights linear;  // [out, in]; the tied LM head shares the embedding's storage
};

// Where a non-projection tensor lives in ModelParams (the kNorm* slots are per block).
enum class ParamSlot { kTokEmb, kPosEmb, kNorm1W, kNorm1B, kNorm2W, kNorm2B, kFinalNormW, kFinalNormB };
// When a block projection has a bias.
enum class BiasRule { kAlways, kIfAttentionBias, kIfMlpBias };

// The checkpoint key map. "{}" in a key stands for the layer index.
struct ParamKey {
  ParamSlot slot;
  const char* key;  // e.g. "model.layers.{}.input_layernorm.weight"
};
struct ProjKey {
  Proj proj;
  const char* module;  // e.g. "model.layers.{}.self_attn.q_proj" (+ ".weight", ".bias")
  BiasRule bias;
};
struct KeyMap {
  std::span<const ParamKey> params;       // embeddings and norms
  std::span<const ProjKey> projections;   // a block's projections, in execution order
  std::span<const char* const> ignored;   // per-layer buffers some exporters keep (skipped on import)
  bool transposed = false;                // block projections stored [in, out] (GPT-2's Conv1D)
  const char* optional_prefix = "";       // a prefix import accepts missing (GPT2Model saves lack it)
};
// The LM head's tensor when the embeddings are not tied (every family: "lm_head.weight").
inline constexpr const char* kLmHeadKey = "lm_head.weight";

enum class Positions { kLearned, kRope };  // GPT-2's wpe table / Llama's rotary embedding
enum class Norm { kLayerNorm, kRms };
enum class Init { kNormal, kOnes, kZeros };

struct FamilyTraits {
  Family family;
  const char* name;          // config.json model_type: "gpt2", "llama"
  const char* architecture;  // config.json architectures[0]: "GPT2LMHeadModel"
  const char* tokenizer;     // folder of its tokenizer under shared/assets/tokenizers
  Positions positions;
  Norm norm;
  BlockProjections blocks;
  KeyMap keys;
  // The family's config.json fields (from_json validates after). Throws std::invalid_argument
  // naming the field.
  ModelConfig (*parse_config)(const nlohmann::json& j);
  // The family's config.json fields (to_json adds the token ids).
  nlohmann::json (*config_json)(const ModelConfig& cfg);
  // HF defaults `veil init` adds to config.json and generation_config.json.
  void (*hf_extras)(nlohmann::json& config, nlohmann::json& generation_config);
  // Standard deviation of the random init of the weight `tensor` (HF's init of the family).
  double (*init_std)(const ModelConfig& cfg, std::string_view tensor, double std);
  // Validates names and shapes (missing, unexpected, mis-shaped and non-finite tensors are
  // std::invalid_argument naming the tensor) and splits the weights. Both families use
  // import_by_key_map.
  ImportedWeights (*import_weights)(const ModelConfig& cfg, TensorMap tensors);
  // The inverse: HF names and layouts. Both families use export_by_key_map.
  TensorMap (*export_weights)(const ModelConfig& cfg, const ModelParams& params, const LinearWeights& linear);
  std::unique_ptr<CausalLM> (*make)(ModelConfig cfg, ModelParams params, std::shared_ptr<LinearExecutor> exec);
};

// The registered family. Throws std::invalid_argument naming the known families for any other.
[[nodiscard]] const FamilyTraits& family_traits(Family family);
// The family whose model_type (or, when `name` is empty, architecture) matches. Throws
// std::invalid_argument naming the known ones.
[[nodiscard]] const FamilyTraits& family_by_name(std::string_view model_type, std::string_view architecture = {});
// Every registered family, in registration order.
[[nodiscard]] std::span<const FamilyTraits* const> families();

// `key` with "{}" replaced by the layer index.
[[nodiscard]] std::string expand_key(std::string_view key, int layer);
// The ProjKey of `p` in the family's key map. Throws std::invalid_argument when it has none.
[[nodiscard]] const ProjKey& proj_key(const FamilyTraits& traits, Proj p);
// The key of a slot in the family's key map (per-block slots keep "{}"), e.g. the embedding that
// a tied LM head reads. Throws std::invalid_argument when the family has no such tensor.
[[nodiscard]] const char* param_key(const FamilyTraits& traits, ParamSlot slot);
// True when a projection with `rule` has a bias under `cfg`.
[[nodiscard]] bool has_bias(const ModelConfig& cfg, BiasRule rule);

// Generic import and export driven by the family's key map (the traits' defaults).
[[nodiscard]] ImportedWeights import_by_key_map(const ModelConfig& cfg, TensorMap tensors);
[[nodiscard]] TensorMap export_by_key_map(const ModelConfig& cfg, const ModelParams& params,
                                          const LinearWeights& linear);
// Weights of the family's layout, each made by `make(shape, init)`, in checkpoint order
// (embeddings, then per block its norms and projections with their biases, final norm, LM head);
// the tied LM head shares the embedding.
using TensorFactory = std::function<at::Tensor(std::vector<std::int64_t> shape, Init init)>;
[[nodiscard]] ImportedWeights init_weights(const ModelConfig& cfg, const TensorFactory& make);

}  // namespace veil::model
