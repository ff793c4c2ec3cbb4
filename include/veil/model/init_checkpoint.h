// A complete Hugging Face model directory with random weights (`veil init`): config.json,
// generation_config.json, a tokenizer and the safetensors weights (sharded above a size), written
// into a temporary directory beside the destination and renamed into place, so the destination is
// either absent or complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "veil/model/random_checkpoint.h"

namespace veil::model {

struct InitOptions {
  RandomCheckpointOptions weights;  // dtype, seed, shard size, per-tensor callback
  // A tokenizer directory (tokenizer.json and/or vocab.json + merges.txt, tokenizer_config.json,
  // special_tokens_map.json) or a tokenizer.json file, copied into the model directory.
  std::filesystem::path tokenizer;
};

// Hugging Face's config.json for `cfg` as written by `veil init`: ModelConfig::to_json plus the
// fields the Hub's files carry (torch_dtype, initializer_range, ...).
[[nodiscard]] nlohmann::json init_config_json(const ModelConfig& cfg, checkpoint::DType dtype);
// generation_config.json: bos/eos ids (and Llama 3.2's sampling defaults).
[[nodiscard]] nlohmann::json init_generation_config_json(const ModelConfig& cfg);

// Checks that `out` can become a new model directory: it does not exist or is an empty directory,
// and no existing component of its path is a file. Throws std::invalid_argument naming `--out`.
// init_checkpoint() calls it first; `veil init` calls it before looking for a tokenizer.
void check_init_destination(const std::filesystem::path& out);

// Writes the directory `out`. `out` must not exist or be an empty directory. The tokenizer is
// checked to load and to fit the model's vocabulary before any weight is written.
// Throws std::invalid_argument (bad config, dtype, tokenizer, `out` not empty: the message names
// it), std::runtime_error (I/O). Nothing is left behind on failure.
RandomCheckpointInfo init_checkpoint(const std::filesystem::path& out, const ModelConfig& cfg, const InitOptions& opts);

}  // namespace veil::model
