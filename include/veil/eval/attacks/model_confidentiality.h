// How much of a proprietary model an untrusted party recovered: the recovered block projections
// scored against the true ones, and the recovered model's loss on held-out text against the true
// model's and the public base's.
#pragma once

#include <filesystem>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/model/linear_executor.h"
#include "veil/model/loader.h"

namespace veil::eval {

struct ModelConfidentiality {
  double weight_error = 0;      // ‖Ŵ − W‖_F / ‖W‖_F over the block projections
  double base_error = 0;        // ‖W⁰ − W‖_F / ‖W‖_F: what the public base alone gives
  double update_recovered = 0;  // 1 − ‖Ŵ − W‖² / ‖W⁰ − W‖²: share of the fine-tuning update's energy
                                // recovered (0: no better than the base; negative: worse)
  double rows_recovered = 0;    // fraction of weight rows i with ‖Ŵ_i − W_i‖ <= ½·‖W⁰_i − W_i‖
                                // (at least 3/4 of that row's fine-tuning update recovered)
  double loss_true = 0, loss_base = 0, loss_recovered = 0;  // held-out mean cross-entropy
  // (loss_base − loss_recovered) / (loss_base − loss_true): 1 = the recovered model behaves as the
  // true one on held-out text, 0 = as the public base.
  [[nodiscard]] double loss_gap_closed() const;
  [[nodiscard]] nlohmann::json to_json() const;
};

// The model at `base_dir` with the block projections of `linear` (the rest the base's): what an
// attacker who recovered `linear` runs.
[[nodiscard]] model::LoadedModel model_with_linear(const std::filesystem::path& base_dir,
                                                   const model::LinearWeights& linear);

// The model at `base_dir` (embeddings, norms, head) with each of the three sets of block
// projections: `recovered`, `truth` (the proprietary model's) and the base's own. `held_out`:
// rows [N, T+1] of text neither the fine-tuning nor the attack used. Throws std::invalid_argument
// when a projection is missing.
[[nodiscard]] ModelConfidentiality score_model_recovery(const std::filesystem::path& base_dir,
                                                        const model::LinearWeights& recovered,
                                                        const model::LinearWeights& truth, const at::Tensor& held_out);

}  // namespace veil::eval
