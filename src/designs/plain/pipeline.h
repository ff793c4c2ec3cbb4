// The gradient half of a training step with a step's micro-batches in flight at once, so that
// while one micro-batch waits on a worker, another computes on the data owner or on another
// worker. Each micro-batch has its own autograd graph and its own gradient buffers
// (autograd::grad); the main thread then adds them into the parameters' grad() in micro-batch
// order, exactly as sequential backward() calls accumulate, and the loss is normalised as
// Trainer::step normalises it, so the step equals the sequential one bit for bit.
#pragma once

#include <functional>
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

namespace veil::designs::plain {

// Runs forward and backward of every micro-batch, at most `in_flight` at once (1: one after the
// other, in order). Exceptions of any micro-batch are rethrown after all have stopped.
// `params` are the trainable leaves whose grad() receives the gradients.
[[nodiscard]] train::Trainer::Gradients micro_batch_gradients(model::CausalLM& model, std::span<const at::Tensor> params,
                                                              std::span<const train::MicroBatch> micro, int in_flight);

// The same with another loss (default train::causal_lm_loss) and, when backward_without_targets,
// a backward pass (of zero gradients) for micro-batches without a target too (he-lora: the workers
// see the same calls whatever the labels).
struct MicroBatchLoss {
  std::function<train::LossSum(model::CausalLM&, const at::Tensor&, const at::Tensor&)> loss;
  bool backward_without_targets = false;
};
[[nodiscard]] train::Trainer::Gradients micro_batch_gradients(model::CausalLM& model, std::span<const at::Tensor> params,
                                                              std::span<const train::MicroBatch> micro, int in_flight,
                                                              const MicroBatchLoss& how);

}  // namespace veil::designs::plain
