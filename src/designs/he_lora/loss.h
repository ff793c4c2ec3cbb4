// he-lora's loss with the LM head on a worker: no length channel (docs/designs/he-lora.md §2).
// train::causal_lm_loss sends only the labelled rows through the head, so a worker holding the head
// would learn how many tokens carry a loss (the answer's length, exactly, at batch size 1), and a
// micro-batch without targets would skip the head and the whole backward pass. Here the head runs
// over every batch × sequence row and the rows without a label are dropped after decryption; the
// backward pass runs for every micro-batch (zero gradients when it has no target). The worker sees
// the same calls and shapes whatever the labels. The labelled rows' values are those of
// causal_lm_loss bit for bit (rows are quantised independently; an all-zero gradient row gives
// exact zeros), so the run is unchanged.
#pragma once

#include <span>

#include <ATen/core/Tensor.h>

#include "veil/train/loss.h"
#include "veil/train/trainer.h"

namespace veil::model {
class CausalLM;
}
namespace veil::train {
struct MicroBatch;
}

namespace veil::designs::he_lora {

// As train::causal_lm_loss, with the LM head over all rows of input_ids (the result's sum is
// zero, still differentiable, when no label is set).
[[nodiscard]] train::LossSum all_rows_loss(model::CausalLM& model, const at::Tensor& input_ids, const at::Tensor& labels);

// evaluate_loss with all_rows_loss.
[[nodiscard]] train::EvalStats all_rows_evaluate(model::CausalLM& model, std::span<const train::MicroBatch> batches);

}  // namespace veil::designs::he_lora
