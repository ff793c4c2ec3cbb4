// LoRA adapters (Hu et al. 2021) on a model's linear projections, as PEFT defines them:
//     y = x·Wᵀ + (dropout(x)·Aᵀ)·Bᵀ · (alpha / r),   A: [r, in], B: [out, r]
// A starts Kaiming-uniform (bound 1/sqrt(in)), B at zero, so a new adapter changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/model/config.h"
#include "veil/model/projection.h"

namespace veil::model {

struct LoraConfig {
  std::int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // PEFT target_modules: module names ("q_proj", "c_attn", ...) matched against the end of each
  // module path, or the single entry "all-linear" (every projection except lm_head).
  std::vector<std::string> target_modules = {"all-linear"};

  [[nodiscard]] double scaling() const { return alpha / static_cast<double>(r); }
  void validate() const;  // throws std::invalid_argument
  // Whether the projection at `site` is targeted.
  [[nodiscard]] bool targets(Family family, const LinearSite& site) const;
};

struct LoraPair {
  at::Tensor a;  // [r, in]
  at::Tensor b;  // [out, r]
};

class LoraAdapters {
 public:
  // New adapters for every targeted site of the model, initialised from `seed`.
  LoraAdapters(const ModelConfig& model, LoraConfig cfg, std::uint64_t seed);
  // Adapters with given weights (e.g. loaded from PEFT). Shapes are checked against the model.
  LoraAdapters(const ModelConfig& model, LoraConfig cfg, std::map<LinearSite, LoraPair> weights);

  [[nodiscard]] bool has(const LinearSite& site) const { return pairs_.count(site) != 0; }
  // The LoRA branch's output for input x ([..., in]): down(site, x)·Bᵀ.
  [[nodiscard]] at::Tensor delta(const LinearSite& site, const at::Tensor& x) const;
  // The branch's rank-r intermediate, scaled: dropout(x)·Aᵀ·scaling ([..., r]). With B
  // (pairs().at(site).b) a caller can fuse the up-projection into an addmm onto the base output.
  [[nodiscard]] at::Tensor down(const LinearSite& site, const at::Tensor& x) const;
  // ΔW = B·A·scaling, [out, in].
  [[nodiscard]] at::Tensor delta_weight(const LinearSite& site) const;

  [[nodiscard]] const LoraConfig& config() const { return cfg_; }
  [[nodiscard]] const std::map<LinearSite, LoraPair>& pairs() const { return pairs_; }
  [[nodiscard]] std::map<LinearSite, LoraPair>& pairs() { return pairs_; }
  // Trainable tensors in a fixed order (site order, A before B).
  [[nodiscard]] std::vector<at::Tensor> parameters() const;
  [[nodiscard]] std::int64_t num_parameters() const;
  void set_training(bool training) { training_ = training; }

 private:
  ModelConfig model_;
  LoraConfig cfg_;
  std::map<LinearSite, LoraPair> pairs_;
  bool training_ = false;
};

}  // namespace veil::model
