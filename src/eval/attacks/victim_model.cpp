#include "veil/eval/attacks/victim_model.h"

#include <cmath>
#include <map>
#include <vector>

#include <ATen/ATen.h>

#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace fs = std::filesystem;

double mean_loss(model::CausalLM& m, const at::Tensor& rows) {
  VEIL_CHECK_ARG(rows.defined() && rows.dim() == 2 && rows.size(1) >= 2, "mean_loss: rows must be [N, T+1]");
  at::NoGradGuard g;
  const auto T = rows.size(1) - 1;
  auto logits = m.forward(rows.slice(1, 0, T).contiguous());
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), rows.slice(1, 1, T + 1).reshape(-1))
      .item<double>();
}

double relative_weight_error(const model::LinearWeights& a, const model::LinearWeights& b) {
  double num = 0, den = 0;
  for (const auto& [site, wb] : b) {
    if (site.proj == model::Proj::kLmHead) continue;
    auto it = a.find(site);
    VEIL_CHECK_ARG(it != a.end(), "relative_weight_error: no weight for layer ", site.layer, " ",
                   model::proj_module_name(site.proj));
    num += (it->second.to(at::kDouble) - wb.to(at::kDouble)).pow(2).sum().item<double>();
    den += wb.to(at::kDouble).pow(2).sum().item<double>();
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

VictimModel fine_tune_victim(const fs::path& base_dir, const at::Tensor& rows, const fs::path& out_dir,
                             const VictimOptions& o) {
  VEIL_CHECK_ARG(rows.defined() && rows.dim() == 2 && rows.size(0) >= 1 && rows.size(1) >= 3,
                 "fine_tune_victim: rows must be [N, T+1] with T >= 2");
  VEIL_CHECK_ARG(o.steps >= 0 && o.lr > 0 && o.batch_rows >= 1, "fine_tune_victim: bad options");
  auto files = model::read_model(base_dir);
  model::LinearWeights base = files.weights.linear;
  // Trainable copies of the block projections; the LM head (tied to the embedding) stays frozen.
  model::LinearWeights linear;
  std::vector<at::Tensor> params;
  for (const auto& [site, w] : base) {
    if (site.proj == model::Proj::kLmHead) {
      linear[site] = w;
      continue;
    }
    auto t = w.detach().to(at::kFloat).clone().requires_grad_(true);
    linear[site] = t;
    params.push_back(t);
  }
  auto exec = std::make_shared<model::PlainExecutor>(linear, /*train_base=*/true);
  auto m = model::build_model(files.config, files.weights.params, exec);
  // The executor detaches its own leaves: train those.
  params.clear();
  for (auto& [site, w] : exec->mutable_weights())
    if (site.proj != model::Proj::kLmHead) params.push_back(w);

  VictimModel out;
  out.dir = out_dir;
  out.steps = o.steps;
  out.train_loss_before = mean_loss(*m, rows);
  m->set_training(true);
  std::vector<at::Tensor> m1, m2;
  for (auto& p : params) {
    m1.push_back(at::zeros_like(p));
    m2.push_back(at::zeros_like(p));
  }
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const auto N = rows.size(0), T = rows.size(1) - 1;
  for (int s = 0; s < o.steps; ++s) {
    const auto start = (static_cast<std::int64_t>(s) * o.batch_rows) % N;
    auto idx = (at::arange(o.batch_rows, at::kLong) + start).remainder(N);
    auto batch = rows.index_select(0, idx);
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    auto logits = m->forward(batch.slice(1, 0, T).contiguous());
    auto loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), batch.slice(1, 1, T + 1).reshape(-1));
    loss.backward();
    at::NoGradGuard g;
    const double c1 = 1 - std::pow(b1, s + 1), c2 = 1 - std::pow(b2, s + 1);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& gr = params[i].grad();
      if (!gr.defined()) continue;
      m1[i].mul_(b1).add_(gr, 1 - b1);
      m2[i].mul_(b2).addcmul_(gr, gr, 1 - b2);
      params[i].sub_(o.lr * (m1[i] / c1) / ((m2[i] / c2).sqrt() + eps));
    }
  }
  m->set_training(false);
  out.train_loss_after = mean_loss(*m, rows);
  for (const auto& [site, w] : exec->weights()) out.linear[site] = w.detach().clone();
  out.relative_drift = relative_weight_error(base, out.linear);
  fs::create_directories(out_dir);
  model::save_model(out_dir, files.config, files.weights.params, out.linear);
  // The tokenizer travels with the model directory.
  for (const auto& e : fs::directory_iterator(base_dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("tokenizer", 0) == 0 || name == "special_tokens_map.json")
      fs::copy_file(e.path(), out_dir / name, fs::copy_options::overwrite_existing);
  }
  return out;
}

}  // namespace veil::eval
