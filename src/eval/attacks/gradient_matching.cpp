#include "veil/eval/attacks/gradient_matching.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "veil/eval/attacks/inversion.h"
#include "veil/eval/observation.h"
#include "veil/model/causal_lm.h"
#include "veil/model/kv_cache.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

struct Match {
  at::Tensor per_seq;  // [B] mismatch per sequence
};

// Runs soft tokens p ([B, T, V] probabilities, plus one more position used only as the last
// label when `last_label`) through the public model and returns the per-position gradient at
// block `grad_layer` (>= cut) and the states at the input of block `cut`.
std::pair<at::Tensor, at::Tensor> forward_soft(model::CausalLM& m, const at::Tensor& p, int cut, int grad_layer,
                                               bool last_label, bool create_graph) {
  const auto& prm = m.params();
  const auto T = p.size(1) - (last_label ? 1 : 0);
  auto inputs = p.slice(1, 0, T);
  auto h0 = inputs.matmul(prm.tok_emb);
  if (prm.pos_emb.defined()) h0 = h0 + prm.pos_emb.slice(0, 0, T).unsqueeze(0);
  auto h = h0;
  for (int l = 0; l < cut; ++l) h = m.block(l, h, nullptr, 0);
  auto hs = h;
  for (int l = cut; l < grad_layer; ++l) h = m.block(l, h, nullptr, 0);
  auto hc = h;
  if (!hc.requires_grad()) hc = hc.detach().requires_grad_(true);
  if (grad_layer == cut) hs = hc;
  auto x = hc;
  for (int l = grad_layer; l < m.config().num_layers; ++l) x = m.block(l, x, nullptr, 0);
  auto logp = m.lm_head(m.final_norm(x)).log_softmax(-1);  // [B, T, V]
  // Soft labels: position t predicts position t+1's distribution.
  auto targets = p.slice(1, 1, p.size(1));
  auto n_pred = targets.size(1);
  auto loss = -(targets * logp.slice(1, 0, n_pred)).sum() / static_cast<double>(n_pred);
  auto g = torch::autograd::grad({loss}, {hc}, {}, /*retain_graph=*/true, create_graph)[0];
  return {g, hs};
}

// 1 - cosine similarity per position, summed over positions: [B].
at::Tensor cos_mismatch(const at::Tensor& a, const at::Tensor& b) {
  return (1 - at::cosine_similarity(a, b, -1, 1e-12)).sum(-1);
}

at::Tensor mismatch(model::CausalLM& m, const at::Tensor& p, const ActivationView& v, bool last_label,
                    const GradientMatchingOptions& o, bool create_graph) {
  auto [g, h] = forward_soft(m, p, v.layer, v.grad_layer(), last_label, create_graph);
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
  if (!o.relax_only && view.hidden.defined() && view.gradient.defined() && !init_logits.defined())
    return label_matching(m, view);
  return relax_and_search(m, view, o, init_logits, {});
}

namespace {

// Φ(c): the vector-Jacobian product of the final normed states n = top(x) with cotangent c.
at::Tensor top_vjp(model::CausalLM& m, int from, const at::Tensor& x, const at::Tensor& cot) {
  at::AutoGradMode on(true);
  auto xi = x.detach().requires_grad_(true);
  auto y = xi;
  for (int l = from; l < m.config().num_layers; ++l) y = m.block(l, y, nullptr, 0);
  auto n = m.final_norm(y);
  return torch::autograd::grad({n}, {xi}, {cot})[0].detach();
}

}  // namespace

at::Tensor label_matching(model::CausalLM& m, const ActivationView& view) {
  const auto& cfg = m.config();
  VEIL_CHECK_ARG(view.hidden.defined() && view.gradient.defined(), "label matching: the view needs states and a gradient");
  VEIL_CHECK_ARG(view.hidden.dim() == 3 && view.hidden.size(2) == cfg.hidden_size &&
                     view.gradient.sizes().equals(view.hidden.sizes()),
                 "label matching: states and gradient must both be [B, T, ", cfg.hidden_size, "]");
  const int k = view.layer, j = view.grad_layer(), L = cfg.num_layers;
  VEIL_CHECK_ARG(k >= 0 && k < L && j >= k && j <= L, "label matching: layers ", k, " and ", j, " do not fit the model");
  const auto B = view.hidden.size(0), T = view.hidden.size(1), H = cfg.hidden_size, V = cfg.vocab_size;
  auto g = view.gradient.to(at::kFloat);
  at::Tensor hj, W, PW;
  {
    at::NoGradGuard off;
    hj = view.hidden.to(at::kFloat);
    for (int l = k; l < j; ++l) hj = m.block(l, hj, nullptr, 0);
    auto x = hj;
    for (int l = j; l < L; ++l) x = m.block(l, x, nullptr, 0);
    auto z = m.lm_head(m.final_norm(x));                                     // [B, T, V]
    W = m.lm_head(at::eye(H, at::kFloat).unsqueeze(0)).squeeze(0).t().contiguous();  // [V, H]
    PW = z.softmax(-1).matmul(W);                                           // [B, T, H]
  }
  const auto phiP = top_vjp(m, j, hj, PW);
  const bool last_ignored = g.select(1, T - 1).abs().max().item<double>() == 0;
  const auto S = last_ignored ? T - 1 : T;  // positions with a label

  // M_s (B x H x H): row s of Φ for a cotangent e_i at position s alone, for every i — the
  // Jacobian of n_s with the earlier positions held fixed. Positions are fed one at a time through
  // a KV cache (B·H copies of each record), so only x_s carries a gradient.
  std::vector<at::Tensor> M(static_cast<std::size_t>(S));
  {
    const auto eye = at::eye(H, at::kFloat).repeat({B, 1});  // [B*H, H]: copy (b, i) -> e_i
    model::KvCache cache(cfg, B * H, T);
    const auto copies = hj.repeat_interleave(H, 0);           // [B*H, T, H]
    for (std::int64_t s = 0; s < S; ++s) {
      at::AutoGradMode on(true);
      auto xs = copies.slice(1, s, s + 1).detach().requires_grad_(true);
      auto y = xs;
      for (int l = j; l < L; ++l) y = m.block(l, y, &cache, s);
      cache.advance(1);
      auto n = m.final_norm(y);
      auto res = torch::autograd::grad({n}, {xs}, {eye.unsqueeze(1)})[0].detach();  // [B*H, 1, H]
      M[static_cast<std::size_t>(s)] = res.reshape({B, H, H}).transpose(1, 2).contiguous();  // [b, out, i]
    }
  }
  // Labels right to left for a given N.
  auto decode = [&](double N) {
    auto D = phiP - N * g;
    auto C = at::zeros_like(D);  // contributions of the labels decoded so far
    if (last_ignored) {
      auto cot = at::zeros_like(PW);
      cot.select(1, T - 1).copy_(PW.select(1, T - 1));  // an ignored label cancels P_{T-1}
      C = C + top_vjp(m, j, hj, cot);
    }
    auto y = at::zeros({B, T}, at::kLong);
    for (auto s = S - 1; s >= 0; --s) {
      auto r = D.select(1, s) - C.select(1, s);                    // [B, H]
      auto cand = M[static_cast<std::size_t>(s)].matmul(W.t());    // [B, H, V]
      auto dist = (cand - r.unsqueeze(-1)).pow(2).sum(1);          // [B, V]
      auto ys = dist.argmin(-1);
      y.select(1, s).copy_(ys);
      if (s == 0) break;
      auto xs = hj.slice(1, 0, s + 1);
      auto cot = at::zeros_like(xs);
      cot.select(1, s).copy_(W.index_select(0, ys));
      C.slice(1, 0, s) += top_vjp(m, j, xs, cot).slice(1, 0, s);
    }
    return y;
  };
  double N = static_cast<double>(B * S);
  auto y = decode(N);
  // Refit N by least squares: N·g ≈ Φ(P·W) − Φ(Y·W).
  {
    auto YW = W.index_select(0, y.reshape({-1})).reshape({B, T, H});
    if (last_ignored) YW.select(1, T - 1).copy_(PW.select(1, T - 1));
    auto rhs = phiP - top_vjp(m, j, hj, YW);
    const double N_fit = (g * rhs).sum().item<double>() / std::max(1e-30, g.pow(2).sum().item<double>());
    if (std::isfinite(N_fit) && N_fit > 0 && std::abs(N_fit / N - 1) > 0.02) y = decode(N_fit);
  }
  // The first input token: the nearest context-free state at position 0 (causal: exact).
  at::Tensor first;
  {
    at::NoGradGuard off;
    auto table = hidden_at(m, at::arange(V, at::kLong).unsqueeze(1), k).squeeze(1);  // [V, H]
    auto h0 = view.hidden.select(1, 0).to(at::kFloat);
    auto d = h0.pow(2).sum(-1, true) - 2 * h0.matmul(table.t()) + table.pow(2).sum(-1);
    first = d.argmin(-1);
  }
  auto ids = at::empty({B, T}, at::kLong);
  ids.select(1, 0).copy_(first);
  if (T > 1) ids.slice(1, 1, T).copy_(y.slice(1, 0, T - 1));
  return ids;
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
  VEIL_CHECK_ARG(view.grad_layer() >= view.layer && view.grad_layer() <= cfg.num_layers,
                 "gradient matching: gradient layer ", view.grad_layer(), " outside [", view.layer, ", ",
                 cfg.num_layers, "]");
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
                        view.gradient.defined() ? view.gradient.slice(0, b, b + 1).expand({KC, T, -1}) : at::Tensor{},
                        view.gradient_layer};
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
