// How `veil generate` and `veil serve` reach a design: DesignSpec::open_generation (spec.h) turns
// a model, its adapters, the design's options and the parties into one generator per adapter.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "veil/model/config.h"
#include "veil/model/generate.h"
#include "veil/train/finetune.h"

namespace veil::designs {

// What `veil serve` generates with when no --design is given: the unprotected model in this process.
inline constexpr const char* kDefaultGenerationDesign = "plain";

struct GenerationRequest {
  std::filesystem::path model;
  std::vector<std::filesystem::path> adapters;  // PEFT directories; an empty path: the base model
  std::map<std::string, std::string> options;   // --opt key=value
  train::PartyOptions parties;                  // workers, TLS
};

// Generates after a non-empty prompt, calling on_token for each new token (false stops); returns
// the new tokens. One generation at a time per generator (serve's queue runs them in turn).
using Generator = std::function<std::vector<std::int64_t>(std::span<const std::int64_t> prompt,
                                                          const model::GenerationConfig& cfg,
                                                          const std::function<bool(std::int64_t)>& on_token)>;

struct GenerationModels {
  model::ModelConfig config;          // the model's (stop tokens, context length)
  std::vector<Generator> generators;  // one per request adapter, in order
};

// Throws std::invalid_argument for bad options, std::runtime_error when a party cannot be reached.
using GenerationOpener = std::function<GenerationModels(const GenerationRequest& request)>;

}  // namespace veil::designs
