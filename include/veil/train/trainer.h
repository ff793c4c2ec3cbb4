// One optimizer step at a time over a model's trainable parameters (its LoRA adapters, or the
// base weights in full fine-tuning): AdamW, linear warmup then cosine decay, gradient
// accumulation, clipping, and checkpoints that resume a run exactly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace veil::model {
class CausalLM;
}

namespace veil::train {

struct OptimConfig {
  double lr = 2e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;   // for the cosine schedule
  double min_lr_ratio = 0.1;      // cosine decays to lr * min_lr_ratio
  double max_grad_norm = 1.0;     // <= 0: no clipping
  void validate() const;          // throws std::invalid_argument
};

// Learning rate at optimizer step `step` (0-based).
[[nodiscard]] double lr_at(const OptimConfig& cfg, std::int64_t step);

struct MicroBatch {
  at::Tensor input_ids;  // [B, T] int64
  at::Tensor labels;     // [B, T] int64, -100 = no loss
};

struct StepStats {
  double loss = 0;       // mean over target tokens of the step
  double grad_norm = 0;  // before clipping
  double lr = 0;
  std::int64_t targets = 0, tokens = 0;
};

class Trainer {
 public:
  // Trains `params` (leaf tensors with requires_grad) of `model`.
  Trainer(model::CausalLM& model, std::vector<at::Tensor> params, OptimConfig cfg);
  ~Trainer();

  // Forward + backward over the micro-batches, then one optimizer step. The loss is the mean over
  // every target token of all micro-batches, so accumulation equals one large batch.
  StepStats step(std::span<const MicroBatch> micro);

  // What a step's gradient computation returns to step_with().
  struct Gradients {
    double loss_sum = 0;              // summed over target tokens
    std::int64_t targets = 0, tokens = 0;
  };
  // step() with the gradient half supplied by the caller (designs that run micro-batches in
  // parallel, or redo a step): the gradients are zeroed, `backward` must leave d(mean loss)/dp in
  // each trainable p's grad(), then clipping and the optimizer step are step()'s. When `backward`
  // throws, nothing was updated (the step may be redone).
  StepStats step_with(const std::function<Gradients()>& backward);

  [[nodiscard]] std::int64_t steps_done() const { return step_; }

  // Optimizer moments, step counter and the CPU RNG state (dropout), into/from `dir`.
  void save_state(const std::filesystem::path& dir) const;
  void load_state(const std::filesystem::path& dir);

 private:
  struct Impl;
  model::CausalLM& model_;
  std::vector<at::Tensor> params_;
  OptimConfig cfg_;
  std::unique_ptr<Impl> impl_;
  std::int64_t step_ = 0;
};

// Mean loss and perplexity over batches (no gradients).
struct EvalStats {
  double loss = 0, perplexity = 0;
  std::int64_t targets = 0;
};
[[nodiscard]] EvalStats evaluate_loss(model::CausalLM& model, std::span<const MicroBatch> batches);

}  // namespace veil::train
