#include <ATen/ATen.h>

#include "veil/eval/attacks/inversion.h"
#include "veil/eval/observation.h"
#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

// Squared distances [N, V] between rows of a [N, H] and rows of b [V, H].
at::Tensor sq_dist(const at::Tensor& a, const at::Tensor& b) {
  return a.pow(2).sum(-1, true) - 2 * a.matmul(b.t()) + b.pow(2).sum(-1).unsqueeze(0);
}

}  // namespace

at::Tensor nn_inversion(model::CausalLM& m, const at::Tensor& hidden, int layer, const NnInversionOptions& opt) {
  const auto& cfg = m.config();
  VEIL_CHECK_ARG(hidden.dim() == 3 && hidden.size(2) == cfg.hidden_size, "nn_inversion: hidden states must be [B, T, ",
                 cfg.hidden_size, "], got ", hidden.sizes());
  VEIL_CHECK_ARG(layer >= 0 && layer < cfg.num_layers, "nn_inversion: layer ", layer, " outside the model");
  at::NoGradGuard g;
  const auto V = cfg.vocab_size, B = hidden.size(0), T = hidden.size(1);
  auto obs = hidden.to(at::kFloat);
  // Context-free table: every token alone at position 0.
  auto all = at::arange(V, at::kLong).unsqueeze(1);
  auto table = hidden_at(m, all, layer).squeeze(1);  // [V, H]
  auto d = sq_dist(obs.reshape({B * T, -1}), table).reshape({B, T, V});
  if (layer == 0 || opt.shortlist <= 1) return d.argmin(-1);
  const auto K = std::min<std::int64_t>(opt.shortlist, V);
  auto cand = std::get<1>(d.topk(K, -1, /*largest=*/false));  // [B, T, K]
  auto out = at::zeros({B, T}, at::kLong);
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      auto prefix = out[b].slice(0, 0, t).unsqueeze(0).expand({K, t});
      auto seqs = at::cat({prefix, cand[b][t].unsqueeze(1)}, 1);  // [K, t+1]
      auto h = hidden_at(m, seqs, layer).select(1, t);            // [K, H]
      auto dist = (h - obs[b][t].unsqueeze(0)).pow(2).sum(-1);
      out[b][t] = cand[b][t][dist.argmin().item<std::int64_t>()];
    }
  }
  return out;
}

}  // namespace veil::eval
