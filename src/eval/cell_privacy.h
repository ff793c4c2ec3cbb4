// The privacy part of an evaluation cell (internal to src/eval): what the design's untrusted party
// saw (its audit tap through the design's observe(), or a simulated view, as the design's
// evaluation traits say) and the attacks on it. No design is known by name here.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "eval/cell_inputs.h"
#include "veil/designs/spec.h"
#include "veil/eval/attacks/victim_model.h"
#include "veil/train/finetune.h"

namespace veil::eval {

class PrivacyRound {
 public:
  PrivacyRound(const EvaluateConfig& cfg, CellInputs& inputs) : cfg_(cfg), in_(inputs) {}

  // The cell's "privacy" object for `spec`, whose training run (config fc) wrote `dir` and
  // reported `report`. `announce` names the phase for the progress display.
  [[nodiscard]] nlohmann::json run(const designs::DesignSpec& spec, const train::FinetuneConfig& fc,
                                   const std::filesystem::path& dir, const nlohmann::json& report,
                                   const std::function<void(const std::string&)>& announce);

 private:
  // The model-confidentiality round: the worker against a proprietary fine-tune of the public base.
  void model_stealing_round(nlohmann::json& privacy, const train::FinetuneConfig& fc,
                            const std::filesystem::path& dir, const std::function<void(const std::string&)>& announce);

  const EvaluateConfig& cfg_;
  CellInputs& in_;
  std::optional<VictimModel> victim_;  // built once, for the model-stealing rounds
};

}  // namespace veil::eval
