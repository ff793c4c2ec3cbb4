#include "veil/model/causal_lm.h"

#include <ATen/ATen.h>

#include "veil/model/family.h"
#include "veil/model/kv_cache.h"
#include "veil/util/check.h"

namespace veil::model {

std::vector<at::Tensor> ModelParams::all() const {
  std::vector<at::Tensor> out;
  auto add = [&](const at::Tensor& t) {
    if (t.defined()) out.push_back(t);
  };
  add(tok_emb);
  add(pos_emb);
  add(final_norm_w);
  add(final_norm_b);
  for (const auto& b : blocks) {
    add(b.norm1_w);
    add(b.norm1_b);
    add(b.norm2_w);
    add(b.norm2_b);
    for (const auto& [p, t] : b.bias) add(t);
  }
  return out;
}

CausalLM::CausalLM(ModelConfig cfg, ModelParams params, std::shared_ptr<LinearExecutor> executor)
    : cfg_(std::move(cfg)), params_(std::move(params)), executor_(std::move(executor)) {
  VEIL_CHECK_ARG(executor_ != nullptr, "CausalLM needs a linear executor");
  VEIL_CHECK_ARG(static_cast<std::int64_t>(params_.blocks.size()) == cfg_.num_layers, "CausalLM: ",
                 params_.blocks.size(), " blocks given for a ", cfg_.num_layers, "-layer model");
  if (family_traits(cfg_.family).positions == Positions::kRope) rope_ = Rope(cfg_, cfg_.max_position_embeddings);
}

void CausalLM::set_lora(std::shared_ptr<LoraAdapters> lora) {
  lora_ = std::move(lora);
  if (lora_) lora_->set_training(training_);
}

void CausalLM::set_training(bool training) {
  training_ = training;
  if (lora_) lora_->set_training(training);
}

std::vector<at::Tensor> CausalLM::project(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  auto ys = executor_->linear(layer, projs, x);
  VEIL_CHECK_STATE(ys.size() == projs.size(), "executor returned ", ys.size(), " outputs for ", projs.size(),
                   " projections");
  const BlockParams* bp = layer < cfg_.num_layers ? &params_.blocks[layer] : nullptr;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    LinearSite site{layer, projs[i]};
    const at::Tensor* bias = nullptr;
    if (bp)
      if (auto it = bp->bias.find(projs[i]); it != bp->bias.end()) bias = &it->second;
    if (lora_ && lora_->has(site)) {
      // base + down(x)·Bᵀ in one addmm (the up-projection accumulates onto a copy of the base
      // output), then the bias in place: two passes over [tokens, out] instead of five.
      auto h = lora_->down(site, x);
      const auto& b = lora_->pairs().at(site).b;
      auto sizes = ys[i].sizes().vec();
      auto out = at::addmm(ys[i].reshape({-1, sizes.back()}), h.reshape({-1, h.size(-1)}), b.t());
      if (bias) out.add_(*bias);
      ys[i] = out.view(sizes);
    } else if (bias) {
      ys[i] = ys[i] + *bias;
    }
  }
  return ys;
}

at::Tensor CausalLM::lm_head(const at::Tensor& h) {
  static constexpr Proj kHead[] = {Proj::kLmHead};
  return project(static_cast<int>(cfg_.num_layers), kHead, h)[0];
}

at::Tensor CausalLM::hidden_states(const at::Tensor& ids, KvCache* cache) {
  VEIL_CHECK_ARG(ids.dim() == 2, "token ids must be [batch, time], got ", ids.sizes());
  VEIL_CHECK_ARG(ids.scalar_type() == at::kLong, "token ids must be int64");
  {
    // A plain loop: two reductions and their item() syncs cost more than a decode step's norms.
    auto c = ids.contiguous();
    const auto* p = c.data_ptr<std::int64_t>();
    for (std::int64_t i = 0, n = c.numel(); i < n; ++i)
      VEIL_CHECK_ARG(p[i] >= 0 && p[i] < cfg_.vocab_size, "token id ", p[i], " out of range [0, ", cfg_.vocab_size, ")");
  }
  const std::int64_t offset = cache ? cache->length() : 0;
  VEIL_CHECK_ARG(offset + ids.size(1) <= cfg_.max_position_embeddings, "sequence of ", offset + ids.size(1),
                 " tokens exceeds the model's maximum of ", cfg_.max_position_embeddings);
  at::Tensor h = embed(ids, offset);
  emit("embed", -1, h);
  for (int l = 0; l < cfg_.num_layers; ++l) {
    h = block(l, h, cache, offset);
    emit("block_out", l, h);
  }
  if (cache) cache->advance(ids.size(1));
  h = final_norm(h);
  emit("final_norm", static_cast<int>(cfg_.num_layers), h);
  return h;
}

at::Tensor CausalLM::forward(const at::Tensor& ids, KvCache* cache) { return lm_head(hidden_states(ids, cache)); }

}  // namespace veil::model
