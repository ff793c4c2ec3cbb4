#include "veil/train/trainer.h"

#include <cmath>
#include <fstream>
#include <numbers>

#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/archive.h>

#include "veil/model/causal_lm.h"
#include "veil/train/loss.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::train {
namespace fs = std::filesystem;

void OptimConfig::validate() const {
  VEIL_CHECK_ARG(lr > 0 && std::isfinite(lr), "--lr must be positive (got ", lr, ")");
  VEIL_CHECK_ARG(weight_decay >= 0, "--weight-decay must not be negative");
  VEIL_CHECK_ARG(warmup_steps >= 0, "--warmup must not be negative");
  VEIL_CHECK_ARG(total_steps >= 1, "the run must have at least one optimizer step");
  VEIL_CHECK_ARG(min_lr_ratio >= 0 && min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]");
}

double lr_at(const OptimConfig& c, std::int64_t step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps)
    return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const auto decay_steps = std::max<std::int64_t>(1, c.total_steps - c.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / static_cast<double>(decay_steps));
  double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine);
}

struct Trainer::Impl {
  torch::optim::AdamW opt;
  Impl(std::vector<at::Tensor> params, const OptimConfig& c)
      : opt(std::move(params), torch::optim::AdamWOptions(c.lr)
                                   .betas({c.beta1, c.beta2})
                                   .eps(c.eps)
                                   .weight_decay(c.weight_decay)) {}
};

Trainer::Trainer(model::CausalLM& model, std::vector<at::Tensor> params, OptimConfig cfg)
    : model_(model), params_(std::move(params)), cfg_(cfg) {
  cfg_.validate();
  VEIL_CHECK_ARG(!params_.empty(), "nothing to train: the model has no trainable parameters");
  for (const auto& p : params_) VEIL_CHECK_ARG(p.requires_grad(), "a trainable tensor does not require grad");
  impl_ = std::make_unique<Impl>(params_, cfg_);
}

Trainer::~Trainer() = default;

StepStats Trainer::step(std::span<const MicroBatch> micro) {
  VEIL_CHECK_ARG(!micro.empty(), "Trainer::step needs at least one micro-batch");
  return step_with([&] {
    Gradients g;
    for (const auto& mb : micro) g.targets += (mb.labels != -100).sum().item<std::int64_t>();
    for (const auto& mb : micro) {
      auto l = causal_lm_loss(model_, mb.input_ids, mb.labels);
      g.tokens += mb.input_ids.numel();
      if (l.targets == 0) continue;
      auto scaled = l.sum / static_cast<double>(std::max<std::int64_t>(1, g.targets));
      scaled.backward();
      g.loss_sum += l.sum.item<double>();
    }
    return g;
  });
}

StepStats Trainer::step_with(const std::function<Gradients()>& backward) {
  StepStats s;
  model_.set_training(true);
  impl_->opt.zero_grad();
  Gradients g;
  try {
    g = backward();
  } catch (...) {
    model_.set_training(false);
    throw;
  }
  s.targets = g.targets;
  s.tokens = g.tokens;
  const double loss_sum = g.loss_sum;
  model_.executor().sync();
  s.loss = s.targets > 0 ? loss_sum / static_cast<double>(s.targets) : 0.0;
  VEIL_CHECK_STATE(std::isfinite(s.loss), "loss became ", s.loss, " at step ", step_, " (lower --lr?)");
  if (cfg_.max_grad_norm > 0) {
    s.grad_norm = torch::nn::utils::clip_grad_norm_(params_, cfg_.max_grad_norm);
  } else {
    double sq = 0;
    for (const auto& p : params_)
      if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    s.grad_norm = std::sqrt(sq);
  }
  s.lr = lr_at(cfg_, step_);
  for (auto& group : impl_->opt.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(s.lr);
  impl_->opt.step();
  model_.set_training(false);
  ++step_;
  return s;
}

void Trainer::save_state(const fs::path& dir) const {
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  impl_->opt.save(archive);
  archive.write("rng_state", at::detail::getDefaultCPUGenerator().get_state());
  archive.write("step", at::tensor(step_, at::kLong));
  util::AtomicFile f(dir / "optimizer.pt");
  archive.save_to(f.stream());
  f.commit();
}

void Trainer::load_state(const fs::path& dir) {
  const auto path = dir / "optimizer.pt";
  VEIL_CHECK_ARG(fs::exists(path), "no optimizer.pt in checkpoint ", dir.string());
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
    impl_->opt.load(archive);
    at::Tensor rng, step;
    archive.read("rng_state", rng);
    archive.read("step", step);
    auto gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    step_ = step.item<std::int64_t>();
  } catch (const c10::Error& e) {
    throw std::invalid_argument(util::cat(path.string(), ": not a valid optimizer state: ", e.what_without_backtrace()));
  }
}

EvalStats evaluate_loss(model::CausalLM& model, std::span<const MicroBatch> batches) {
  at::NoGradGuard g;
  model.set_training(false);
  double sum = 0;
  EvalStats s;
  for (const auto& b : batches) {
    auto l = causal_lm_loss(model, b.input_ids, b.labels);
    sum += l.sum.item<double>();
    s.targets += l.targets;
  }
  s.loss = s.targets ? sum / static_cast<double>(s.targets) : 0.0;
  s.perplexity = std::exp(s.loss);
  return s;
}

}  // namespace veil::train
