#include "designs/he_lora/loss.h"

#include <ATen/ATen.h>

#include <cmath>

#include "veil/model/causal_lm.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {

train::LossSum all_rows_loss(model::CausalLM& model, const at::Tensor& input_ids, const at::Tensor& labels) {
  VEIL_CHECK_ARG(input_ids.sizes() == labels.sizes(), "labels ", labels.sizes(), " do not match inputs ",
                 input_ids.sizes());
  at::Tensor h = model.hidden_states(input_ids);
  // Every row through the head: its shape is batch × sequence whatever the labels.
  at::Tensor logits = model.lm_head(h.reshape({-1, h.size(-1)}));
  auto flat_labels = labels.reshape({-1});
  auto idx = (flat_labels != -100).nonzero().squeeze(1);
  train::LossSum out;
  out.targets = idx.size(0);
  if (out.targets == 0) {
    out.sum = logits.sum() * 0.0;  // keeps the graph (and the backward pass through the head) alive
    return out;
  }
  auto targets = flat_labels.index_select(0, idx);
  VEIL_CHECK_ARG(targets.min().item<std::int64_t>() >= 0 && targets.max().item<std::int64_t>() < model.config().vocab_size,
                 "label out of range [0, ", model.config().vocab_size, ")");
  out.sum = at::cross_entropy_loss(logits.index_select(0, idx), targets, {}, at::Reduction::Sum);
  return out;
}

train::EvalStats all_rows_evaluate(model::CausalLM& model, std::span<const train::MicroBatch> batches) {
  at::NoGradGuard g;
  model.set_training(false);
  double sum = 0;
  train::EvalStats s;
  for (const auto& b : batches) {
    auto l = all_rows_loss(model, b.input_ids, b.labels);
    sum += l.sum.item<double>();
    s.targets += l.targets;
  }
  s.loss = s.targets ? sum / static_cast<double>(s.targets) : 0.0;
  s.perplexity = std::exp(s.loss);
  return s;
}

}  // namespace veil::designs::he_lora
