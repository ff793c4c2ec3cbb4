// What every cell of the evaluation matrix shares (internal to src/eval): the public model,
// tokenizer, the private records under attack, public text, the secrets, learned inverters per
// layer, and the scoring of a recovered batch against the truth.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/eval/attacks/inversion.h"
#include "veil/eval/evaluate.h"
#include "veil/eval/observation.h"
#include "veil/eval/scores.h"
#include "veil/model/loader.h"
#include "veil/tokenizer/tokenizer.h"

namespace veil::eval {

struct CellInputs {
  model::LoadedModel pub;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  at::Tensor private_rows;  // [N, T+1]: the attacked batch (inputs and their next tokens)
  at::Tensor private_ids;   // [N, T]: its inputs, what the attacks must recover
  std::vector<std::string> truths;
  std::vector<SecretRecord> secrets;
  at::Tensor public_ids;   // [M, T] or undefined
  std::map<int, std::unique_ptr<LearnedInverter>> inverters;
  nlohmann::json notes = nlohmann::json::array();
};

// Loads the inputs for cfg, resolving cfg.secrets and cfg.public_text when empty (searched near
// the data). Throws std::invalid_argument when no record is long enough.
[[nodiscard]] CellInputs load_cell_inputs(EvaluateConfig& cfg);

[[nodiscard]] double seconds_since(std::chrono::steady_clock::time_point t);

// Token accuracy, ROUGE-L and secret recovery of `guess` ([N, T] ids) against the private records.
[[nodiscard]] nlohmann::json score(const CellInputs& in, const at::Tensor& guess, double secs);

// The registered attacks named in cfg.attacks on the first activation view of `obs`.
[[nodiscard]] nlohmann::json run_attacks(CellInputs& in, const EvaluateConfig& cfg, const Observation& obs);

// Attacks on keyed inputs and obfuscated weights (an obfuscatune-like worker's view): the raw
// keyed inputs inverted as if plaintext, and the two-sided key of layer 0's q/k/v recovered.
[[nodiscard]] nlohmann::json attack_keyed_inputs(CellInputs& in, const Observation& obs);

}  // namespace veil::eval
