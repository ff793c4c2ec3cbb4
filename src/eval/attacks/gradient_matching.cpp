#include "veil/eval/attacks/gradient_matching.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "veil/eval/attacks/inversion.h"
#include "veil/eval/observation.h"
#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

struct Match {
  at::Tensor per_seq;  // [B] mismatch per sequence
};

// Runs soft tokens p ([B, T, V] probabilities, plus one more position used only as the last
// label when `last_label`) through the public model and returns the per-position gradient at the
// cut and the states there.
std::pair<at::Tensor, at::Tensor> forward_soft(model::CausalLM& m, const at::Tensor& p, int cut, bool last_label,
                                               bool create_graph) {
  const auto& prm = m.params();
  const auto T = p.size(1) - (last_label ? 1 : 0);
  auto inputs = p.slice(1, 0, T);
  auto h0 = inputs.matmul(prm.tok_emb);
  if (prm.pos_emb.defined()) h0 = h0 + prm.pos_emb.slice(0, 0, T).unsqueeze(0);
  auto h = h0;
  for (int l = 0; l < cut; ++l) h = m.block(l, h, nullptr, 0);
  auto hc = h;
  if (!hc.requires_grad()) hc = hc.detach().requires_grad_(true);
  auto x = hc;
  for (int l = cut; l < m.config().num_layers; ++l) x = m.block(l, x, nullptr, 0);
  auto logp = m.lm_head(m.final_norm(x)).log_softmax(-1);  // [B, T, V]
  // Soft labels: position t predicts position t+1's distribution.
  auto targets = p.slice(1, 1, p.size(1));
  auto n_pred = targets.size(1);
  auto loss = -(targets * logp.slice(1, 0, n_pred)).sum() / static_cast<double>(n_pred);
  auto g = torch::autograd::grad({loss}, {hc}, {}, /*retain_graph=*/true, create_graph)[0];
  return {g, hc};
}

// 1 - cosine similarity per position, summed over positions: [B].
at::Tensor cos_mismatch(const at::Tensor& a, const at::Tensor& b) {
  return (1 - at::cosine_similarity(a, b, -1, 1e-12)).sum(-1);
}

at::Tensor mismatch(model::CausalLM& m, const at::Tensor& p, const ActivationView& v, bool last_label,
                    const GradientMatchingOptions& o, bool create_graph) {
  auto [g, h] = forward_soft(m, p, v.layer, last_label, create_graph);
  at::Tensor total = at::zeros({p.size(0)});
  if (o.gradient_weight > 0) total = total + o.gradient_weight * cos_mismatch(g, v.gradient);
  if (o.state_weight > 0) total = total + o.state_weight * cos_mismatch(h, v.hidden);
  return total;
}

}  // namespace

namespace {

at::Tensor relax_and_search(model::CausalLM& m, const ActivationView& view, const GradientMatchingOptions& o,
                            const at::Tensor& init_logits, const at::Tensor& extra_candidates);

}  // namespace

at::Tensor gradient_matching(model::CausalLM& m, const ActivationView& view, const GradientMatchingOptions& o,
                             const at::Tensor& init_logits) {
  return relax_and_search(m, view, o, init_logits, {});
}

namespace {

at::Tensor relax_and_search(model::CausalLM& m, const ActivationView& view, const GradientMatchingOptions& o,
                            const at::Tensor& init_logits, const at::Tensor& extra_candidates) {
  const auto& cfg = m.config();
  VEIL_CHECK_ARG(view.gradient.defined() || o.gradient_weight == 0, "gradient matching: the view holds no gradient");
  VEIL_CHECK_ARG(view.hidden.defined() || o.state_weight == 0, "gradient matching: the view holds no states");
  const auto& ref = view.gradient.defined() ? view.gradient : view.hidden;
  VEIL_CHECK_ARG(ref.dim() == 3 && ref.size(2) == cfg.hidden_size, "gradient matching: observed tensors must be [B, T, ",
                 cfg.hidden_size, "]");
  VEIL_CHECK_ARG(view.layer >= 0 && view.layer < cfg.num_layers, "gradient matching: layer ", view.layer,
                 " outside the model");
  const auto B = ref.size(0), T = ref.size(1), V = cfg.vocab_size;
  // The last position's label is the token after the window; when its gradient is zero the
  // label was ignored (-100) and there is no extra position to model.
  bool last_label = true;
  if (view.gradient.defined())
    last_label = view.gradient.select(1, T - 1).abs().max().item<double>() > 0;
  const auto P = T + (last_label ? 1 : 0);

  torch::manual_seed(o.seed);
  auto z = init_logits.defined() ? init_logits.detach().to(at::kFloat).clone() : torch::randn({B, T, V}) * 0.1;
  if (z.size(1) < P) z = at::cat({z, torch::zeros({B, P - z.size(1), V})}, 1);
  z.requires_grad_(true);
  torch::optim::Adam adam({z}, torch::optim::AdamOptions(o.lr));
  for (std::int64_t s = 0; s < o.steps; ++s) {
    auto loss = mismatch(m, z.softmax(-1), view, last_label, o, true).sum();
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  auto zd = z.detach();
  auto ids = zd.argmax(-1);  // [B, P]
  if (o.candidates <= 1) return ids.slice(1, 0, T).contiguous();

  // Discrete pass: per position, try the top candidates with hard one-hot tokens.
  const auto K = std::min<std::int64_t>(o.candidates, V);
  auto cand = std::get<1>(zd.topk(K, -1));  // [B, P, K]
  if (extra_candidates.defined()) {
    auto extra = extra_candidates;
    if (extra.size(1) < P) extra = at::cat({extra, cand.slice(1, extra.size(1), P).slice(2, 0, extra.size(2))}, 1);
    cand = at::cat({cand, extra}, 2);
  }
  const auto KC = cand.size(2);
  for (std::int64_t sweep = 0; sweep < o.discrete_sweeps; ++sweep) {
    for (std::int64_t b = 0; b < B; ++b) {
      ActivationView vb{view.layer, view.hidden.defined() ? view.hidden.slice(0, b, b + 1).expand({KC, T, -1}) : at::Tensor{},
                        view.gradient.defined() ? view.gradient.slice(0, b, b + 1).expand({KC, T, -1}) : at::Tensor{}};
      for (std::int64_t t = 0; t < P; ++t) {
        auto seqs = ids[b].unsqueeze(0).repeat({KC, 1});
        seqs.select(1, t).copy_(cand[b][t]);
        auto p = at::one_hot(seqs, V).to(at::kFloat);
        auto err = mismatch(m, p, vb, last_label, o, false).detach();
        ids[b][t] = cand[b][t][err.argmin().item<std::int64_t>()];
      }
    }
  }
  return ids.slice(1, 0, T).contiguous();
}

}  // namespace

at::Tensor bisr(model::CausalLM& m, const ActivationView& view, const LearnedInverter& inverter,
                GradientMatchingOptions o) {
  VEIL_CHECK_ARG(view.hidden.defined(), "BiSR: the view holds no states");
  VEIL_CHECK_ARG(inverter.layer() == view.layer, "BiSR: the inverter was trained for layer ", inverter.layer(),
                 ", the view is at layer ", view.layer);
  // The states are exact evidence for each position given its prefix; they dominate the match.
  if (o.state_weight == 0) o.state_weight = 10.0;
  // The inverter ranks tokens it rarely saw in public text low: search a wider shortlist.
  o.candidates = std::max<std::int64_t>(o.candidates, 32);
  if (!view.gradient.defined()) o.gradient_weight = 0;
  at::Tensor init, extra;
  {
    at::NoGradGuard g;
    init = inverter.logits(view.hidden).log_softmax(-1);
    // The forward direction, white-box: the tokens whose context-free states (each token alone
    // through the public blocks) are nearest to each observed state join the search.
    const auto V = m.config().vocab_size;
    auto table = hidden_at(m, at::arange(V, at::kLong).unsqueeze(1), view.layer).squeeze(1);  // [V, H]
    auto obs = view.hidden.to(at::kFloat);
    auto d = obs.pow(2).sum(-1, true) - 2 * obs.matmul(table.t()) + table.pow(2).sum(-1);
    extra = std::get<1>(d.topk(8, -1, /*largest=*/false));  // [B, T, 8]
  }
  return relax_and_search(m, view, o, init, extra);
}

}  // namespace veil::eval
