// The proprietary model of a weight-recovery experiment: a public base fine-tuned on other data.
//
// Model-stealing attacks on obfuscated weights (ArrowMatch, "Game of Arrows", USENIX Security '25)
// assume what holds for most proprietary models: they are fine-tunes of a public base the attacker
// also holds. The evaluation builds that pair itself: the base is the public model; the victim is
// the base with every block projection (the weights obfuscatune's worker holds, in obfuscated
// form) fully fine-tuned with Adam on text the attacked records are not part of. Embeddings,
// norms and the LM head stay the base's (the enclave keeps them; the worker never sees them), so a
// worker that recovered every projection exactly would hold the victim model.
#pragma once

#include <cstdint>
#include <filesystem>

#include <ATen/core/Tensor.h>

#include "veil/model/linear_executor.h"

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

struct VictimOptions {
  int steps = 40;           // Adam steps over the rows (one batch of all rows per step)
  double lr = 5e-4;
  int batch_rows = 8;       // rows per step, cycling through `rows`
};

struct VictimModel {
  std::filesystem::path dir;        // the victim in HF layout (what the model owner would seal)
  model::LinearWeights linear;      // its block projections (and the base's LM head)
  double train_loss_before = 0, train_loss_after = 0;  // mean cross-entropy on the tuning rows
  double relative_drift = 0;        // ‖W_victim − W_base‖_F / ‖W_victim‖_F over the block projections
  int steps = 0;
};

// Fine-tunes the block projections of the model at `base_dir` on `rows` ([N, T+1] token ids:
// inputs rows[:, :T], labels rows[:, 1:]) and writes the victim to `out_dir`. Throws
// std::invalid_argument for bad rows or options.
[[nodiscard]] VictimModel fine_tune_victim(const std::filesystem::path& base_dir, const at::Tensor& rows,
                                           const std::filesystem::path& out_dir, const VictimOptions& opts = {});

// Mean next-token cross-entropy (nats/token) of `model` on rows [N, T+1], without gradients.
[[nodiscard]] double mean_loss(model::CausalLM& model, const at::Tensor& rows);

// ‖a − b‖_F / ‖b‖_F over the block projections both hold (the LM head excluded).
[[nodiscard]] double relative_weight_error(const model::LinearWeights& a, const model::LinearWeights& b);

}  // namespace veil::eval
