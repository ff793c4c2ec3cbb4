#include "veil/designs/guarded/distill.h"

#include <chrono>
#include <cstdio>
#include <optional>

#include <torch/torch.h>

#include "veil/data/batch.h"
#include "veil/data/data_loader.h"
#include "veil/data/example.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {

void DistillOptions::validate() const {
  VEIL_CHECK_ARG(steps >= 0, "distillation steps must not be negative (got ", steps, ")");
  VEIL_CHECK_ARG(lr > 0 && std::isfinite(lr), "distillation lr must be positive (got ", lr, ")");
  VEIL_CHECK_ARG(seq_len >= 2 && batch_size >= 1, "distillation needs seq_len >= 2 and batch_size >= 1");
  VEIL_CHECK_ARG(target == "hidden" || target == "logits", "distillation target '", target,
                 "': expected hidden or logits");
  VEIL_CHECK_ARG(steps == 0 || std::filesystem::exists(data), "distillation data ", data.string(), ": not found");
}

nlohmann::json DistillResult::to_json(const DistillOptions& o) const {
  return {{"data", o.data.string()}, {"steps", steps},         {"lr", o.lr},
          {"seq_len", o.seq_len},    {"batch_size", o.batch_size}, {"target", o.target},
          {"trained", "all weights of the kept middle blocks"},
          {"first_loss", first_loss}, {"last_loss", last_loss}, {"seconds", seconds}};
}

namespace {

// The middle blocks' own tensors (norms, biases): cloned so that `full` is never changed.
std::vector<at::Tensor> own_block_tensors(model::BlockParams& b) {
  std::vector<at::Tensor> out;
  for (auto* t : {&b.norm1_w, &b.norm1_b, &b.norm2_w, &b.norm2_b})
    if (t->defined()) {
      *t = t->detach().clone().requires_grad_(true);
      out.push_back(*t);
    }
  for (auto& [p, t] : b.bias) {
    t = t.detach().clone().requires_grad_(true);
    out.push_back(t);
  }
  return out;
}

}  // namespace

DistillResult distill_emulator(const model::ModelFiles& full, model::ModelFiles& emulator, const OffsitePlan& plan,
                               const DistillOptions& o) {
  o.validate();
  DistillResult res;
  if (o.steps == 0) return res;
  VEIL_CHECK_ARG(emulator.config.num_layers == plan.emulator_layers() && full.config.num_layers == plan.full_layers,
                 "distill: the models do not match the offsite plan");
  const auto t0 = std::chrono::steady_clock::now();
  const int n = plan.emulator_layers(), mid_begin = plan.bottom, mid_end = n - plan.top;
  const int full_mid_end = plan.full_layers - plan.top;

  // Public text, packed into rows.
  auto tok = tokenizer::load_tokenizer(o.tokenizer);
  auto dataset = data::load_dataset(o.data, *tok);
  data::RowOptions ropt;
  ropt.seq_len = o.seq_len;
  ropt.layout = data::Layout::kPack;
  auto rows = std::make_shared<const data::TokenRows>(data::make_rows(dataset, *tok, ropt));
  VEIL_CHECK_ARG(rows->num_rows() > 0, "distill: ", o.data.string(), " gives no rows of ", o.seq_len, " tokens");

  // Teacher: the full model, frozen.
  auto teacher = model::build_model(full.config, full.weights.params,
                                     std::make_shared<model::PlainExecutor>(full.weights.linear));
  teacher->set_training(false);

  // Student: the emulator; its middle blocks get their own trainable copies.
  std::vector<at::Tensor> params;
  for (int i = mid_begin; i < mid_end; ++i) {
    for (auto& t : own_block_tensors(emulator.weights.params.blocks[i])) params.push_back(t);
    for (auto& [site, w] : emulator.weights.linear)
      if (site.layer == i) w = w.detach().clone();
  }
  // The executor's leaves share storage with emulator.weights.linear (its middle copies), so the
  // optimizer's in-place steps land in the emulator; the other projections stay frozen.
  auto exec = std::make_shared<model::PlainExecutor>(emulator.weights.linear, /*train_base=*/true);
  for (auto& [site, w] : exec->mutable_weights()) {
    if (site.layer >= mid_begin && site.layer < mid_end) params.push_back(w);
    else w.requires_grad_(false);
  }
  auto student = model::build_model(emulator.config, emulator.weights.params, exec);
  student->set_training(false);  // no dropout in Veil's blocks; gradients still flow

  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  std::optional<data::DataLoader> loader;
  std::uint64_t epoch = 0;
  std::vector<double> losses;
  while (static_cast<int>(losses.size()) < o.steps) {
    std::optional<data::Batch> batch = loader ? loader->next() : std::nullopt;
    if (!batch) {
      data::LoaderOptions lo;
      lo.batch_size = o.batch_size;
      lo.seed = o.seed * 1000003ULL + epoch++;
      loader.emplace(rows, lo);
      batch = loader->next();
    }
    const auto& ids = batch->input_ids;
    at::Tensor x, target;
    {
      at::NoGradGuard ng;
      auto h = teacher->embed(ids, 0);
      for (int l = 0; l < plan.bottom; ++l) h = teacher->block(l, h, nullptr, 0);
      x = h;
      for (int l = plan.bottom; l < full_mid_end; ++l) h = teacher->block(l, h, nullptr, 0);
      target = h;
      if (o.target == "logits") {
        for (int l = full_mid_end; l < plan.full_layers; ++l) h = teacher->block(l, h, nullptr, 0);
        target = at::log_softmax(teacher->lm_head(teacher->final_norm(h)).to(at::kFloat), -1);
      }
    }
    at::Tensor y = x;
    for (int i = mid_begin; i < mid_end; ++i) y = student->block(i, y, nullptr, 0);
    at::Tensor loss;
    if (o.target == "hidden") {
      loss = (y - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12);
    } else {
      for (int i = mid_end; i < n; ++i) y = student->block(i, y, nullptr, 0);
      auto logp = at::log_softmax(student->lm_head(student->final_norm(y)).to(at::kFloat), -1);
      loss = (target.exp() * (target - logp)).sum(-1).mean();
    }
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
    losses.push_back(loss.item<double>());
  }
  // Frozen again, as plain tensors.
  for (int i = mid_begin; i < mid_end; ++i) {
    auto& b = emulator.weights.params.blocks[i];
    for (auto* t : {&b.norm1_w, &b.norm1_b, &b.norm2_w, &b.norm2_b})
      if (t->defined()) *t = t->detach();
    for (auto& [p, t] : b.bias) t = t.detach();
  }
  const std::size_t w = std::min<std::size_t>(5, losses.size());
  for (std::size_t i = 0; i < w; ++i) {
    res.first_loss += losses[i] / static_cast<double>(w);
    res.last_loss += losses[losses.size() - 1 - i] / static_cast<double>(w);
  }
  res.steps = static_cast<int>(losses.size());
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace veil::designs::guarded
