#include "veil/eval/attacks/weight_recovery.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <ATen/ATen.h>

#include "veil/eval/attacks/obfuscation.h"
#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

using model::Proj;

// argmin_Q ‖Q·x − y‖ over orthogonal Q: the polar factor of y·xᵀ.
at::Tensor polar(const at::Tensor& m) {
  auto [u, s, vh] = at::linalg_svd(m, /*full_matrices=*/false);
  return u.matmul(vh);
}

at::Tensor lstsq(const at::Tensor& a, const at::Tensor& b) {  // argmin ‖a·X − b‖
  return std::get<0>(at::linalg_lstsq(a, b, c10::nullopt, std::string("gelsd")));
}

struct Layout {
  bool in = true, out = true;
};

Layout layout(const std::string& variant, bool input_side) {
  if (variant == "paper") return input_side ? Layout{true, false} : Layout{false, true};
  if (variant == "full" || variant == "matched") return {};
  throw std::invalid_argument("weight recovery: variant must be paper, full or matched (got '" + variant + "')");
}

}  // namespace

at::Tensor match_gram(const at::Tensor& gs, const at::Tensor& gb) {
  VEIL_CHECK_ARG(gs.dim() == 2 && gs.size(0) == gs.size(1) && gs.sizes() == gb.sizes(),
                 "match_gram: expected two square matrices of one shape");
  at::NoGradGuard g;
  auto a = gs.to(at::kDouble), b = gb.to(at::kDouble);
  // Each index's signature: its row of |G| sorted (the same whatever permutation and signs).
  auto sa = std::get<0>(a.abs().sort(1)), sb = std::get<0>(b.abs().sort(1));
  auto d = at::cdist(sa.unsqueeze(0), sb.unsqueeze(0)).squeeze(0);  // [n, n]
  auto best_b = std::get<1>(d.min(1)), best_a = std::get<1>(d.min(0));
  const auto n = a.size(0);
  auto bb = best_b.accessor<std::int64_t, 1>();
  auto ba = best_a.accessor<std::int64_t, 1>();
  for (std::int64_t r = 0; r < n; ++r)
    if (ba[bb[r]] != r) return {};
  auto pi = at::zeros({n, n}, at::kDouble);
  for (std::int64_t r = 0; r < n; ++r) pi[r][bb[r]] = 1.0;
  // Signs: (G*)_rc = d_r·d_c·(Π·G·Πᵀ)_rc, so G* ⊙ (Π·G·Πᵀ) ≈ d·dᵀ ⊙ (…)²: its leading eigenvector.
  auto m = a * pi.matmul(b).matmul(pi.t());
  auto [l, v] = at::linalg_eigh(m);
  auto lead = v.select(1, n - 1);
  auto signs = at::where(lead >= 0, at::ones_like(lead), -at::ones_like(lead));
  return at::diag(signs).matmul(pi);
}

DirectionMatch match_directions(const at::Tensor& x, const at::Tensor& y, double threshold) {
  VEIL_CHECK_ARG(x.dim() == 2 && x.sizes() == y.sizes(), "match_directions: expected two [n, d] matrices of one shape");
  at::NoGradGuard g;
  auto xn = x.to(at::kDouble), yn = y.to(at::kDouble);
  xn = xn / xn.norm(2, 1, true).clamp_min(1e-300);
  yn = yn / yn.norm(2, 1, true).clamp_min(1e-300);
  auto c = xn.matmul(yn.t());  // [n, n]
  auto a = c.abs();
  auto best_y = std::get<1>(a.max(1));  // for each row of x
  auto best_x = std::get<1>(a.max(0));  // for each row of y
  const auto n = x.size(0);
  auto by = best_y.accessor<std::int64_t, 1>();
  auto bx = best_x.accessor<std::int64_t, 1>();
  auto ca = c.accessor<double, 2>();
  DirectionMatch m;
  for (std::int64_t r = 0; r < n; ++r)
    if (bx[by[r]] == r && std::abs(ca[r][by[r]]) >= threshold) ++m.matched;
  if (m.matched == n) {
    m.signed_permutation = at::zeros({n, n}, at::kDouble);
    auto p = m.signed_permutation.accessor<double, 2>();
    for (std::int64_t r = 0; r < n; ++r) p[r][by[r]] = ca[r][by[r]] < 0 ? -1.0 : 1.0;
  }
  return m;
}

const GroupKeys* WeightRecovery::group(int layer, Proj first) const {
  for (const auto& g : groups)
    if (g.layer == layer && !g.projs.empty() && g.projs.front() == first) return &g;
  return nullptr;
}

WeightRecovery recover_weights(const model::ModelConfig& cfg, const model::LinearWeights& base,
                               const std::map<std::string, at::Tensor>& obf, const WeightRecoveryOptions& o) {
  VEIL_CHECK_ARG(o.iterations >= 0 && o.match_cosine > 0 && o.match_cosine <= 1, "weight recovery: bad options");
  const auto t0 = std::chrono::steady_clock::now();
  at::NoGradGuard ng;
  const auto bp = model::block_projections(cfg.family);
  struct Role {
    std::span<const Proj> projs;
    bool input_side;
  };
  // MLP-out before MLP-in: a signed permutation found on down's input is a candidate for gate/up's
  // outputs (the matched variant's P·D sits on both sides of the activation).
  const Role roles[] = {{bp.attn_in, true}, {bp.attn_out, false}, {bp.mlp_out, false}, {bp.mlp_in, true}};
  WeightRecovery out;
  for (int l = 0; l < cfg.num_layers; ++l) {
    at::Tensor mlp_link;  // down's snapped input key, when it was snapped
    for (const auto& role : roles) {
      const auto lay = layout(o.variant, role.input_side);
      GroupKeys gk;
      gk.layer = l;
      std::vector<at::Tensor> wb, ws;
      for (Proj p : role.projs) {
        gk.projs.push_back(p);
        auto b = base.find({l, p});
        VEIL_CHECK_ARG(b != base.end(), "weight recovery: the public model has no ", model::proj_module_name(p),
                       " at layer ", l);
        const auto key = std::to_string(l) + "." + std::string(model::proj_module_name(p));
        auto s = obf.find(key);
        VEIL_CHECK_ARG(s != obf.end(), "weight recovery: the worker's view has no weight ", key);
        VEIL_CHECK_ARG(s->second.dim() == 2 && s->second.sizes() == b->second.sizes(), "weight recovery: ", key,
                       " is ", s->second.sizes(), ", the public one ", b->second.sizes());
        wb.push_back(b->second.to(at::kDouble));
        ws.push_back(s->second.to(at::kDouble));
      }
      const auto n = wb.size();
      const auto in = wb[0].size(1);
      auto eye_in = at::eye(in, at::kDouble);
      at::Tensor B = eye_in;
      std::vector<at::Tensor> A(n);
      for (std::size_t i = 0; i < n; ++i) A[i] = at::eye(wb[i].size(0), at::kDouble);
      auto stack_aw = [&] {
        std::vector<at::Tensor> v;
        for (std::size_t i = 0; i < n; ++i) v.push_back(A[i].matmul(wb[i]));
        return at::cat(v, 0);
      };
      auto fit_in = [&] {
        if (!lay.in) return;
        auto x = stack_aw(), y = at::cat(ws, 0);
        B = o.orthogonal ? polar(x.t().matmul(y)) : lstsq(x, y);
      };
      auto fit_out = [&] {
        if (!lay.out) return;
        for (std::size_t i = 0; i < n; ++i) {
          auto x = wb[i].matmul(B);
          A[i] = o.orthogonal ? polar(ws[i].matmul(x.t())) : lstsq(x.t(), ws[i].t()).t();
        }
      };
      // Permutation and sign keys first: the Gram matrices of rows (W*_i·W*_iᵀ = A_i·G·A_iᵀ) and of
      // columns (Σ W*_iᵀ·W*_i = Bᵀ·G·B) are the public ones permuted, when that side is a signed
      // permutation: match each index's sorted |row| of the Gram matrix.
      bool in_fixed = false;
      std::vector<bool> out_fixed(n, false);
      if (o.orthogonal) {
        if (lay.in) {
          auto gs = at::zeros({in, in}, at::kDouble), gb = at::zeros_like(gs);
          for (std::size_t i = 0; i < n; ++i) {
            gs += ws[i].t().matmul(ws[i]);
            gb += wb[i].t().matmul(wb[i]);
          }
          if (auto t = match_gram(gs, gb); t.defined()) {
            B = t.t();
            in_fixed = true;
          }
        }
        if (lay.out)
          for (std::size_t i = 0; i < n; ++i) {
            // Candidates for A_i: the Gram signature match, and the link from down (with and without
            // its signs); each judged by how many rows of W*_i·B_c⁻¹ it then aligns with A_c·W⁰_i.
            std::vector<at::Tensor> cand;
            if (auto t = match_gram(ws[i].matmul(ws[i].t()), wb[i].matmul(wb[i].t())); t.defined()) cand.push_back(t);
            if (role.input_side && mlp_link.defined() && mlp_link.size(0) == wb[i].size(0)) {
              cand.push_back(mlp_link.t());
              cand.push_back(mlp_link.t().abs());
            }
            std::int64_t best = wb[i].size(0) / 2;  // at least half the rows, or no candidate
            for (const auto& c : cand) {
              auto aw = c.matmul(wb[i]);
              auto b = polar(aw.t().matmul(ws[i]));
              auto x = ws[i].matmul(b.t());
              auto cos = (x * aw).sum(1) / (x.norm(2, 1) * aw.norm(2, 1)).clamp_min(1e-300);
              const auto good = cos.ge(o.match_cosine).sum().item<std::int64_t>();
              if (good > best) {
                best = good;
                A[i] = c;
                out_fixed[i] = true;
              }
            }
          }
      }
      const bool any_out_fixed = std::find(out_fixed.begin(), out_fixed.end(), true) != out_fixed.end();
      auto fit_in_free = [&] {
        if (!in_fixed) fit_in();
      };
      auto fit_out_free = [&] {
        if (!lay.out) return;
        auto keep = A;
        fit_out();
        for (std::size_t i = 0; i < n; ++i)
          if (out_fixed[i]) A[i] = keep[i];
      };
      // Start: the group's Gram eigenvectors when both sides are keyed and at least two projections
      // share the input key; one projection: the SVD alignment; one side keyed: its direct fit.
      if (any_out_fixed && !in_fixed && lay.in && n > 1) {
        // Keys fixed per projection agree only up to a sign each (−A·W·−B = A·W·B): pick the signs
        // whose joint input key fits the group best.
        auto keep = A;
        double best = -1;
        std::vector<at::Tensor> best_a = A;
        for (unsigned mask = 0; mask < (1u << (n - 1)); ++mask) {
          for (std::size_t i = 1; i < n; ++i) A[i] = ((mask >> (i - 1)) & 1u) && out_fixed[i] ? -keep[i] : keep[i];
          fit_in();
          double r = 0;
          for (std::size_t i = 0; i < n; ++i) r += (A[i].matmul(wb[i]).matmul(B) - ws[i]).pow(2).sum().item<double>();
          if (best < 0 || r < best) {
            best = r;
            best_a = A;
          }
        }
        A = best_a;
      }
      if (in_fixed || any_out_fixed) {
        if (!in_fixed) fit_in();
        fit_out_free();
      } else if (lay.in && lay.out && o.orthogonal) {
        if (n >= 2) {
          B = recover_two_sided_key(wb, ws).input_key.to(at::kDouble);
        } else {
          auto [ub, sb, vbh] = at::linalg_svd(wb[0], false);
          auto [us, ss, vsh] = at::linalg_svd(ws[0], false);
          B = vbh.t().matmul(vsh);
          if (B.size(0) != in) B = eye_in;
        }
        fit_out();
      } else {
        fit_in();
        fit_out();
      }
      for (int it = 0; it < o.iterations; ++it) {
        fit_in_free();
        fit_out_free();
      }
      auto inv = [&](const at::Tensor& k) { return o.orthogonal ? k.t() : at::linalg_pinv(k); };
      // Direction matching: rows against the public rows, then columns against the public columns.
      bool all_rows = true;
      for (std::size_t i = 0; i < n; ++i) {
        auto m = match_directions(ws[i].matmul(inv(B)), wb[i], o.match_cosine);
        gk.rows += wb[i].size(0);
        gk.rows_matched += m.matched;
        if (out_fixed[i]) continue;
        if (lay.out && m.signed_permutation.defined()) {
          A[i] = m.signed_permutation;
        } else {
          all_rows = false;
        }
      }
      gk.output_snapped = lay.out && all_rows;
      if (gk.output_snapped) fit_in_free();
      std::vector<at::Tensor> unkeyed;
      for (std::size_t i = 0; i < n; ++i) unkeyed.push_back(inv(A[i]).matmul(ws[i]));
      auto m = match_directions(at::cat(unkeyed, 0).t(), at::cat(wb, 0).t(), o.match_cosine);
      gk.cols = in;
      gk.cols_matched = m.matched;
      if (in_fixed) {
        gk.input_snapped = true;
      } else if (lay.in && m.signed_permutation.defined()) {
        // columns of W·B ≈ S-permuted columns of W⁰: W·B = W⁰·Sᵀ... as matrices B = Sᵀ.
        B = m.signed_permutation.t();
        gk.input_snapped = true;
        fit_out_free();
      }
      // Two dense keys on one group and neither side snapped: the fit returns the base's singular
      // vectors around the victim's spectrum, worse than the base itself (measured); the attacker
      // keeps the public weights there.
      gk.fell_back = lay.in && lay.out && !gk.output_snapped && !gk.input_snapped;
      for (std::size_t i = 0; i < n; ++i)
        out.weights[{l, role.projs[i]}] =
            gk.fell_back ? wb[i].to(at::kFloat) : inv(A[i]).matmul(ws[i]).matmul(inv(B)).to(at::kFloat);
      gk.input_key = B.to(at::kFloat);
      if (!role.input_side && role.projs.data() == bp.mlp_out.data() && gk.input_snapped) mlp_link = B;
      for (auto& a : A) gk.output_keys.push_back(a.to(at::kFloat));
      out.rows += gk.rows;
      out.rows_matched += gk.rows_matched;
      out.cols += gk.cols;
      out.cols_matched += gk.cols_matched;
      out.groups.push_back(std::move(gk));
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace veil::eval
