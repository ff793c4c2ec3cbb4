#include "veil/eval/attacks/permutation_recovery.h"

#include <string_view>

#include <ATen/ATen.h>

#include "veil/eval/attacks/weight_recovery.h"
#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::eval {

at::Tensor mlp_activations(model::CausalLM& m, const at::Tensor& ids, int layer) {
  VEIL_CHECK_ARG(layer >= 0 && layer < m.config().num_layers, "mlp_activations: layer ", layer, " outside the model");
  at::NoGradGuard g;
  at::Tensor act;
  m.set_hook([&](std::string_view name, int l, const at::Tensor& v) {
    if (name == "mlp_act" && l == layer) act = v.detach().to(at::kFloat);
  });
  try {
    auto h = m.embed(ids, 0);
    for (int l = 0; l <= layer; ++l) h = m.block(l, h, nullptr, 0);
  } catch (...) {
    m.set_hook(nullptr);
    throw;
  }
  m.set_hook(nullptr);
  VEIL_CHECK_STATE(act.defined(), "mlp_activations: the model emitted no mlp_act at layer ", layer);
  return act.reshape({ids.size(0), ids.size(1), -1});
}

PermutedInversion invert_permuted_mlp(model::CausalLM& m, const at::Tensor& observed, std::int64_t B, int layer,
                                      int shortlist, double match_cosine, const at::Tensor& key) {
  VEIL_CHECK_ARG(B >= 1 && observed.dim() == 2 && observed.size(0) % B == 0,
                 "invert_permuted_mlp: observed must be [B·T, width] for B = ", B);
  VEIL_CHECK_ARG(shortlist >= 1, "invert_permuted_mlp: shortlist must be >= 1");
  at::NoGradGuard g;
  const auto V = m.config().vocab_size, T = observed.size(0) / B;
  // Permutation- and sign-invariant signature of a row: its sorted absolute values.
  // With the key: the un-keyed row itself.
  const bool keyed = key.defined();
  VEIL_CHECK_ARG(!keyed || (key.dim() == 2 && key.size(0) == observed.size(1) && key.size(1) == observed.size(1)),
                 "invert_permuted_mlp: key must be [width, width]");
  auto sig = [&](const at::Tensor& a) { return keyed ? a : std::get<0>(a.abs().sort(-1)); };
  auto obs = sig(keyed ? observed.to(at::kFloat).matmul(key.to(at::kFloat).t()) : observed.to(at::kFloat))
                 .reshape({B, T, -1});
  auto table = sig(mlp_activations(m, at::arange(V, at::kLong).unsqueeze(1), layer).squeeze(1));  // [V, width]
  VEIL_CHECK_ARG(table.size(-1) == obs.size(-1), "invert_permuted_mlp: the observed width ", obs.size(-1),
                 " is not the model's MLP width ", table.size(-1));
  auto d = (obs.reshape({B * T, 1, -1}) - table.unsqueeze(0)).pow(2).sum(-1).reshape({B, T, V});
  if (keyed) {  // a key recovered from weights is known up to one global sign: keep the nearer one
    auto dn = (obs.reshape({B * T, 1, -1}) + table.unsqueeze(0)).pow(2).sum(-1).reshape({B, T, V});
    if (std::get<0>(dn.min(-1)).sum().item<double>() < std::get<0>(d.min(-1)).sum().item<double>()) {
      obs = -obs;
      d = dn;
    }
  }
  const auto K = std::min<std::int64_t>(shortlist, V);
  auto cand = std::get<1>(d.topk(K, -1, /*largest=*/false));  // [B, T, K]
  PermutedInversion out;
  out.ids = at::zeros({B, T}, at::kLong);
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      auto prefix = out.ids[b].slice(0, 0, t).unsqueeze(0).expand({K, t});
      auto seqs = at::cat({prefix, cand[b][t].unsqueeze(1)}, 1);  // [K, t+1]
      auto s = sig(mlp_activations(m, seqs, layer).select(1, t));  // [K, width]
      auto dist = (s - obs[b][t].unsqueeze(0)).pow(2).sum(-1);
      out.ids[b][t] = cand[b][t][dist.argmin().item<std::int64_t>()];
    }
  }
  // The permutation: columns of act* against the public model's columns for the decoded tokens.
  auto plain = mlp_activations(m, out.ids, layer).reshape({B * T, -1});
  auto match = match_directions(observed.to(at::kFloat).t(), plain.t(), match_cosine);
  out.columns = plain.size(1);
  out.columns_matched = match.matched;
  if (match.signed_permutation.defined()) out.signed_permutation = match.signed_permutation.t().to(at::kFloat);
  return out;
}

}  // namespace veil::eval
