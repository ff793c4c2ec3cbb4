#include "veil/eval/attacks/model_confidentiality.h"

#include <cmath>

#include <ATen/ATen.h>

#include "veil/eval/attacks/victim_model.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/util/check.h"

namespace veil::eval {

double ModelConfidentiality::loss_gap_closed() const {
  const double gap = loss_base - loss_true;
  return std::abs(gap) < 1e-12 ? 0.0 : (loss_base - loss_recovered) / gap;
}

nlohmann::json ModelConfidentiality::to_json() const {
  return {{"weight_error", weight_error},         {"base_error", base_error},
          {"update_recovered", update_recovered}, {"rows_recovered", rows_recovered},
          {"loss_true", loss_true},               {"loss_base", loss_base},
          {"loss_recovered", loss_recovered},     {"loss_gap_closed", loss_gap_closed()}};
}

model::LoadedModel model_with_linear(const std::filesystem::path& base_dir, const model::LinearWeights& lin) {
  auto files = model::read_model(base_dir);
  model::LinearWeights w = files.weights.linear;
  for (const auto& [site, t] : lin)
    if (site.proj != model::Proj::kLmHead) w[site] = t.to(at::kFloat);
  model::LoadedModel out;
  out.executor = std::make_shared<model::PlainExecutor>(w);
  out.model = model::build_model(files.config, files.weights.params, out.executor);
  return out;
}

ModelConfidentiality score_model_recovery(const std::filesystem::path& base_dir, const model::LinearWeights& rec,
                                          const model::LinearWeights& truth, const at::Tensor& held_out) {
  auto files = model::read_model(base_dir);
  const auto& base = files.weights.linear;
  ModelConfidentiality s;
  s.weight_error = relative_weight_error(rec, truth);
  s.base_error = relative_weight_error(base, truth);
  s.update_recovered = 1 - std::pow(s.weight_error, 2) / std::max(std::pow(s.base_error, 2), 1e-300);
  std::int64_t rows = 0, good = 0;
  for (const auto& [site, w] : truth) {
    if (site.proj == model::Proj::kLmHead) continue;
    auto r = rec.find(site);
    auto b = base.find(site);
    VEIL_CHECK_ARG(r != rec.end() && b != base.end(), "score_model_recovery: no ", model::proj_module_name(site.proj),
                   " at layer ", site.layer);
    auto wt = w.to(at::kDouble);
    auto er = (r->second.to(at::kDouble) - wt).norm(2, 1);
    auto eb = (b->second.to(at::kDouble) - wt).norm(2, 1);
    good += er.le(0.5 * eb).sum().item<std::int64_t>();
    rows += wt.size(0);
  }
  s.rows_recovered = rows ? double(good) / double(rows) : 0;
  auto loss_with = [&](const model::LinearWeights& lin) {
    model::LinearWeights w = base;  // the LM head and anything not given stay the base's
    for (const auto& [site, t] : lin)
      if (site.proj != model::Proj::kLmHead) w[site] = t.to(at::kFloat);
    auto m = model::build_model(files.config, files.weights.params, std::make_shared<model::PlainExecutor>(w));
    return mean_loss(*m, held_out);
  };
  s.loss_true = loss_with(truth);
  s.loss_base = loss_with(base);
  s.loss_recovered = loss_with(rec);
  return s;
}

}  // namespace veil::eval
