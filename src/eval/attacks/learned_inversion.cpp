#include <ATen/ATen.h>
#include <torch/torch.h>

#include "veil/eval/attacks/inversion.h"
#include "veil/eval/observation.h"
#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::eval {

LearnedInverter LearnedInverter::train(model::CausalLM& m, const at::Tensor& public_ids, int layer,
                                       const LearnedInversionOptions& opt) {
  VEIL_CHECK_ARG(public_ids.dim() == 2 && public_ids.numel() > 0, "learned inversion: public ids must be [N, T]");
  VEIL_CHECK_ARG(opt.steps >= 1 && opt.batch >= 1 && opt.hidden_units >= 0, "learned inversion: bad options");
  const auto& cfg = m.config();
  const auto H = cfg.hidden_size, V = cfg.vocab_size;
  // Training pairs: the public states and the tokens that produced them. A fraction of the
  // positions get a uniformly random token (the vocabulary is public), so that tokens rare in
  // public text (digits, names) are learned too.
  torch::manual_seed(opt.seed);
  auto ids = public_ids.to(at::kLong).clone();
  if (opt.random_token_fraction > 0) {
    auto mask = torch::rand(ids.sizes()).lt(opt.random_token_fraction);
    ids = at::where(mask, torch::randint(V, ids.sizes(), torch::kLong), ids);
  }
  std::vector<at::Tensor> hs;
  for (std::int64_t r = 0; r < ids.size(0); r += 16)
    hs.push_back(hidden_at(m, ids.slice(0, r, std::min(ids.size(0), r + 16)), layer));
  auto x = at::cat(hs, 0).reshape({-1, H});
  auto y = ids.reshape({-1});

  LearnedInverter inv;
  inv.layer_ = layer;
  inv.mean_ = x.mean(0);
  inv.scale_ = x.std(0).clamp_min(1e-6);
  x = (x - inv.mean_) / inv.scale_;

  const auto hidden = opt.hidden_units > 0 ? opt.hidden_units : 0;
  auto init = [](std::int64_t out, std::int64_t in) {
    return (torch::randn({out, in}) / std::sqrt(static_cast<double>(in))).requires_grad_(true);
  };
  std::vector<at::Tensor> params;
  if (hidden > 0) {
    inv.w1_ = init(hidden, H);
    inv.b1_ = torch::zeros({hidden}).requires_grad_(true);
    inv.w2_ = init(V, hidden);
    params = {inv.w1_, inv.b1_};
  } else {
    inv.w2_ = init(V, H);
  }
  inv.b2_ = torch::zeros({V}).requires_grad_(true);
  params.push_back(inv.w2_);
  params.push_back(inv.b2_);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(opt.lr));
  const auto n = x.size(0);
  for (std::int64_t s = 0; s < opt.steps; ++s) {
    auto idx = torch::randint(n, {std::min(opt.batch, n)}, torch::kLong);
    auto xb = x.index_select(0, idx), yb = y.index_select(0, idx);
    auto z = hidden > 0 ? at::gelu(xb.matmul(inv.w1_.t()) + inv.b1_) : xb;
    auto loss = torch::nn::functional::cross_entropy(z.matmul(inv.w2_.t()) + inv.b2_, yb);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  inv.w2_ = inv.w2_.detach();
  inv.b2_ = inv.b2_.detach();
  if (hidden > 0) inv.w1_ = inv.w1_.detach(), inv.b1_ = inv.b1_.detach();
  {
    at::NoGradGuard g;
    auto pred = inv.logits(x.mul(inv.scale_).add(inv.mean_)).argmax(-1);
    inv.train_accuracy_ = pred.eq(y).to(at::kDouble).mean().item<double>();
  }
  return inv;
}

at::Tensor LearnedInverter::logits(const at::Tensor& hidden) const {
  VEIL_CHECK_STATE(w2_.defined(), "LearnedInverter used before train()");
  VEIL_CHECK_ARG(hidden.size(-1) == mean_.size(0), "learned inversion: states have width ", hidden.size(-1),
                 ", the inverter was trained on ", mean_.size(0));
  auto x = (hidden.to(at::kFloat) - mean_) / scale_;
  auto z = w1_.defined() ? at::gelu(x.matmul(w1_.t()) + b1_) : x;
  return z.matmul(w2_.t()) + b2_;
}

at::Tensor LearnedInverter::invert(const at::Tensor& hidden) const {
  at::NoGradGuard g;
  return logits(hidden).argmax(-1);
}

}  // namespace veil::eval
