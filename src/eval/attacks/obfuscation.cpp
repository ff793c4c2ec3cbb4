#include "veil/eval/attacks/obfuscation.h"

#include <string_view>

#include <ATen/ATen.h>

#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

void check_pair(const at::Tensor& a, const at::Tensor& b, const char* what) {
  VEIL_CHECK_ARG(a.defined() && b.defined() && a.dim() == 2 && a.sizes() == b.sizes(), what,
                 ": expected two matrices of the same shape, got ", a.sizes(), " and ", b.sizes());
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
}

}  // namespace

double gram_distance(const at::Tensor& w, const at::Tensor& wo) {
  check_pair(w, wo, "gram_distance");
  at::NoGradGuard g;
  auto a = w.to(at::kDouble), b = wo.to(at::kDouble);
  return rel(b.matmul(b.t()), a.matmul(a.t()));
}

KeyRecovery recover_orthogonal_key(const at::Tensor& plain, const at::Tensor& obf) {
  check_pair(plain, obf, "recover_orthogonal_key");
  at::NoGradGuard g;
  auto a = plain.to(at::kDouble), b = obf.to(at::kDouble);
  auto [u, s, vh] = at::linalg_svd(a.t().matmul(b), /*full_matrices=*/false);
  KeyRecovery k{"procrustes", u.matmul(vh).to(at::kFloat), 0};
  k.relative_error = rel(a.matmul(u.matmul(vh)), b);
  return k;
}

KeyRecovery recover_linear_key(const at::Tensor& plain, const at::Tensor& obf) {
  check_pair(plain, obf, "recover_linear_key");
  at::NoGradGuard g;
  auto a = plain.to(at::kDouble), b = obf.to(at::kDouble);
  auto r = at::linalg_lstsq(a, b, c10::nullopt, std::string("gelsd"));
  auto key = std::get<0>(r);
  KeyRecovery k{"least-squares", key.to(at::kFloat), 0};
  k.relative_error = rel(a.matmul(key), b);
  return k;
}

TwoSidedKeyRecovery recover_two_sided_key(const std::vector<at::Tensor>& plain, const std::vector<at::Tensor>& obf) {
  VEIL_CHECK_ARG(plain.size() == obf.size() && plain.size() >= 2,
                 "recover_two_sided_key: needs at least two (public, obfuscated) pairs sharing an input key");
  for (std::size_t i = 0; i < plain.size(); ++i) {
    check_pair(plain[i], obf[i], "recover_two_sided_key");
    VEIL_CHECK_ARG(plain[i].size(1) == plain[0].size(1), "recover_two_sided_key: the pairs must share the input size");
  }
  at::NoGradGuard g;
  const auto in = plain[0].size(1);
  auto G = at::zeros({in, in}, at::kDouble), Go = at::zeros_like(G), G2 = at::zeros_like(G), Go2 = at::zeros_like(G);
  TwoSidedKeyRecovery r;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    auto a = plain[i].to(at::kDouble), b = obf[i].to(at::kDouble);
    const double c = static_cast<double>(i + 1);
    auto ga = a.t().matmul(a), gb = b.t().matmul(b);
    // Normalised so that no projection dominates the combination.
    const double n = ga.norm().item<double>();
    G += c * ga / n;
    Go += c * gb / n;
    G2 += c * c * ga / n;
    Go2 += c * c * gb / n;
    auto sa = at::linalg_svdvals(a), sb = at::linalg_svdvals(b);
    r.spectrum_distance = std::max(r.spectrum_distance, rel(sb, sa));
  }
  auto [la, ua] = at::linalg_eigh(G);
  auto [lb, ub] = at::linalg_eigh(Go);
  // Signs: (U_aᵀ·G2·U_a)_jk = s_j·s_k·(U_bᵀ·Go2·U_b)_jk.
  auto ma = ua.t().matmul(G2).matmul(ua), mb = ub.t().matmul(Go2).matmul(ub);
  auto q = ma * mb;  // ≈ s_j s_k m_jk²
  auto [lq, uq] = at::linalg_eigh(q);
  auto lead = uq.select(1, in - 1);
  auto s = at::where(lead >= 0, at::ones_like(lead), -at::ones_like(lead));
  auto R = ua.matmul(at::diag(s)).matmul(ub.t());  // Rᵀ·G·R = Go
  r.input_key = R.to(at::kFloat);
  for (std::size_t i = 0; i < plain.size(); ++i) {
    auto x = plain[i].to(at::kDouble).matmul(R), y = obf[i].to(at::kDouble);
    auto [u, sv, vh] = at::linalg_svd(y.matmul(x.t()), /*full_matrices=*/false);
    auto A = u.matmul(vh);
    r.output_keys.push_back(A.to(at::kFloat));
    r.relative_error = std::max(r.relative_error, rel(A.matmul(x), y));
  }
  return r;
}

at::Tensor invert_attention_inputs(model::CausalLM& m, const at::Tensor& x, bool pick_sign) {
  VEIL_CHECK_ARG(x.dim() == 2 && x.size(1) == m.config().hidden_size, "invert_attention_inputs: x must be [N, ",
                 m.config().hidden_size, "]");
  at::NoGradGuard g;
  const auto V = m.config().vocab_size;
  at::Tensor table;
  m.set_hook([&](std::string_view name, int layer, const at::Tensor& v) {
    if (name == "attn_norm" && layer == 0 && !table.defined()) table = v.detach().reshape({V, -1}).to(at::kFloat);
  });
  try {
    (void)m.block(0, m.embed(at::arange(V, at::kLong).unsqueeze(1), 0), nullptr, 0);
  } catch (...) {
    m.set_hook(nullptr);
    throw;
  }
  m.set_hook(nullptr);
  VEIL_CHECK_STATE(table.defined(), "invert_attention_inputs: the model emitted no attn_norm at layer 0");
  auto nearest = [&](const at::Tensor& xf) {
    auto d = xf.pow(2).sum(-1, true) - 2 * xf.matmul(table.t()) + table.pow(2).sum(-1);
    return d.min(-1);
  };
  auto [d_pos, ids_pos] = nearest(x.to(at::kFloat));
  if (!pick_sign) return ids_pos;
  auto [d_neg, ids_neg] = nearest(-x.to(at::kFloat));
  return d_neg.sum().item<double>() < d_pos.sum().item<double>() ? ids_neg : ids_pos;
}

at::Tensor undo_key(const at::Tensor& x, const at::Tensor& key) {
  VEIL_CHECK_ARG(key.dim() == 2 && key.size(0) == key.size(1) && x.size(-1) == key.size(1),
                 "undo_key: key must be [in, in] matching the activations' last dimension");
  at::NoGradGuard g;
  return x.to(at::kDouble).matmul(at::linalg_pinv(key.to(at::kDouble))).to(at::kFloat);
}

}  // namespace veil::eval
