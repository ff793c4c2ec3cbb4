#include "veil/model/lora.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "veil/util/check.h"

namespace veil::model {

void LoraConfig::validate() const {
  VEIL_CHECK_ARG(r > 0 && r <= 4096, "LoRA rank must be in 1..4096 (got ", r, ")");
  VEIL_CHECK_ARG(alpha > 0, "LoRA alpha must be positive (got ", alpha, ")");
  VEIL_CHECK_ARG(dropout >= 0 && dropout < 1, "LoRA dropout must be in [0, 1) (got ", dropout, ")");
  VEIL_CHECK_ARG(!target_modules.empty(), "LoRA target_modules is empty");
}

bool LoraConfig::targets(Family family, const LinearSite& site) const {
  for (const auto& t : target_modules) {
    if (t == "all-linear") {
      if (site.proj != Proj::kLmHead) return true;
      continue;
    }
    auto path = proj_module_path(family, site.layer, site.proj);
    if (path == t) return true;
    if (path.size() > t.size() && path.compare(path.size() - t.size(), t.size(), t) == 0 &&
        path[path.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

namespace {

std::vector<LinearSite> all_sites(const ModelConfig& m) {
  std::vector<LinearSite> sites;
  auto bp = block_projections(m.family);
  for (int l = 0; l < m.num_layers; ++l)
    for (auto group : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out})
      for (Proj p : group) sites.push_back({l, p});
  sites.push_back({static_cast<int>(m.num_layers), Proj::kLmHead});
  return sites;
}

}  // namespace

LoraAdapters::LoraAdapters(const ModelConfig& model, LoraConfig cfg, std::uint64_t seed)
    : model_(model), cfg_(std::move(cfg)) {
  cfg_.validate();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& site : all_sites(model_)) {
    if (!cfg_.targets(model_.family, site)) continue;
    auto [out, in] = proj_shape(model_, site.proj);
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    auto a = at::empty({cfg_.r, in}, at::kFloat).uniform_(-bound, bound, gen);
    auto b = at::zeros({out, cfg_.r}, at::kFloat);
    pairs_[site] = {a.requires_grad_(true), b.requires_grad_(true)};
  }
  VEIL_CHECK_ARG(!pairs_.empty(), "LoRA target_modules match no projection of this ", family_name(model_.family),
                 " model");
}

LoraAdapters::LoraAdapters(const ModelConfig& model, LoraConfig cfg, std::map<LinearSite, LoraPair> weights)
    : model_(model), cfg_(std::move(cfg)), pairs_(std::move(weights)) {
  cfg_.validate();
  for (auto& [site, p] : pairs_) {
    auto [out, in] = proj_shape(model_, site.proj);
    auto name = proj_module_path(model_.family, site.layer, site.proj);
    VEIL_CHECK_ARG(site.layer >= 0 && site.layer <= model_.num_layers, "LoRA adapter for unknown layer ", site.layer);
    VEIL_CHECK_ARG(p.a.dim() == 2 && p.a.size(0) == cfg_.r && p.a.size(1) == in, name, ".lora_A has shape ",
                   p.a.sizes(), ", expected [", cfg_.r, ", ", in, "]");
    VEIL_CHECK_ARG(p.b.dim() == 2 && p.b.size(0) == out && p.b.size(1) == cfg_.r, name, ".lora_B has shape ",
                   p.b.sizes(), ", expected [", out, ", ", cfg_.r, "]");
    p.a = p.a.to(at::kFloat).contiguous().detach().requires_grad_(true);
    p.b = p.b.to(at::kFloat).contiguous().detach().requires_grad_(true);
  }
}

at::Tensor LoraAdapters::down(const LinearSite& site, const at::Tensor& x) const {
  const auto& p = pairs_.at(site);
  auto xin = (training_ && cfg_.dropout > 0) ? at::dropout(x, cfg_.dropout, true) : x;
  // Scale the rank-r intermediate: the smallest tensor of the branch.
  return at::linear(xin, p.a) * cfg_.scaling();
}

at::Tensor LoraAdapters::delta(const LinearSite& site, const at::Tensor& x) const {
  return at::linear(down(site, x), pairs_.at(site).b);
}

at::Tensor LoraAdapters::delta_weight(const LinearSite& site) const {
  const auto& p = pairs_.at(site);
  return at::mm(p.b, p.a) * cfg_.scaling();
}

std::vector<at::Tensor> LoraAdapters::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [site, p] : pairs_) {
    out.push_back(p.a);
    out.push_back(p.b);
  }
  return out;
}

std::int64_t LoraAdapters::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [site, p] : pairs_) n += p.a.numel() + p.b.numel();
  return n;
}

}  // namespace veil::model
