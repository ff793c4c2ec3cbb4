#include "veil/designs/obfuscatune/executor.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <utility>

#include "designs/obfuscatune/matched.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

using model::Proj;

std::vector<std::int32_t> proj_ids(std::span<const Proj> projs) {
  std::vector<std::int32_t> ids;
  for (Proj p : projs) ids.push_back(static_cast<std::int32_t>(p));
  return ids;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::int64_t> with_last(at::IntArrayRef sizes, std::int64_t last) {
  std::vector<std::int64_t> s(sizes.begin(), sizes.end());
  s.back() = last;
  return s;
}

// Per row of m (float32 [rows, n], rows contiguous) the dot product with v (float64 [n]) and the
// row's L2 norm, both accumulated in float64 — what a Freivalds check needs, without a float64
// copy of m. Built at -O3 (GCC 12's -O2 leaves the loop scalar).
#pragma GCC push_options
#pragma GCC optimize("O3")
std::pair<at::Tensor, at::Tensor> dots_and_norms(const at::Tensor& m_in, const at::Tensor& v_in) {
  at::Tensor m = m_in.contiguous(), v = v_in.to(at::kDouble).contiguous();
  const std::int64_t rows = m.size(0), n = m.size(1);
  at::Tensor dots = at::empty({rows}, at::kDouble), norms = at::empty({rows}, at::kDouble);
  const float* pm = m.data_ptr<float>();
  const double* pv = v.data_ptr<double>();
  double* pd = dots.data_ptr<double>();
  double* pn = norms.data_ptr<double>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = pm + r * n;
    // Eight lanes of partial sums in vector registers (GCC vector extensions: a plain running
    // sum stays scalar without -ffast-math), then the tail.
    typedef float F8 __attribute__((vector_size(32), __may_alias__, aligned(4)));
    typedef double D8 __attribute__((vector_size(64), __may_alias__, aligned(8)));
    D8 d8{}, q8{};
    std::int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
      const D8 x = __builtin_convertvector(*reinterpret_cast<const F8*>(row + k), D8);
      d8 += x * *reinterpret_cast<const D8*>(pv + k);
      q8 += x * x;
    }
    double d = 0, q = 0;
    for (int j = 0; j < 8; ++j) {
      d += d8[j];
      q += q8[j];
    }
    for (; k < n; ++k) {
      const double x = row[k];
      d += x * pv[k];
      q += x * x;
    }
    pd[r] = d;
    pn[r] = std::sqrt(q);
  }
  return {dots, norms};
}
#pragma GCC pop_options

}  // namespace

ObfuscatedExecutor::ObfuscatedExecutor(const model::ModelConfig& cfg, model::LinearWeights weights,
                                       ObfuscatuneOptions opts, transport::WorkerPool pool)
    : cfg_(cfg), opts_(opts), pool_(std::move(pool)) {
  opts_.validate();
  pool_.check_covers(static_cast<int>(cfg_.num_layers));
  const auto bp = model::block_projections(cfg_.family);
  struct GroupRole {
    std::span<const Proj> projs;
    bool input_side;  // the paper's input-side projections (q/k/v, MLP-in)
  };
  const GroupRole roles[] = {{bp.attn_in, true}, {bp.attn_out, false}, {bp.mlp_in, true}, {bp.mlp_out, false}};
  for (const auto& g : roles)
    for (Proj p : g.projs) group_of_[p] = g.projs[0];

  const bool paper = opts_.variant == Variant::kPaper;
  const bool matched = opts_.variant == Variant::kMatched;
  const bool check = opts_.freivalds_rate > 0;
  for (int l = 0; l < cfg_.num_layers; ++l) {
    MatchedLayer ml;
    if (matched) ml = draw_matched_layer(cfg_, rng_, opts_.mlp_full);
    for (const auto& g : roles) {
      GroupSecrets gs;
      gs.in_dim = model::proj_shape(cfg_, g.projs[0]).second;
      if (auto pre = ml.preapplied_in.find(g.projs[0]); pre != ml.preapplied_in.end()) {
        gs.in = pre->second;
        gs.preapplied = true;
      } else {
        gs.in = SecretTransform::draw(paper && !g.input_side ? MatrixKind::kIdentity : opts_.matrix, gs.in_dim,
                                      opts_.kappa, rng_);
      }
      if (check) gs.s = rng_.normal({gs.in_dim});
      for (Proj p : g.projs) {
        auto it = weights.find({l, p});
        VEIL_CHECK_ARG(it != weights.end(), "obfuscatune: no weight for ", model::proj_module_name(p), " at layer ", l);
        at::Tensor w = it->second.detach().to(at::kFloat);
        weights.erase(it);
        SiteSecrets ss;
        ss.out_dim = w.size(0);
        VEIL_CHECK_ARG(w.size(1) == gs.in_dim, "obfuscatune: ", model::proj_module_name(p), " at layer ", l,
                       " has ", w.size(1), " inputs, expected ", gs.in_dim);
        if (auto kept = ml.kept_out.find(p); kept != ml.kept_out.end()) {
          ss.out = kept->second;
          ss.kept = true;
        } else {
          ss.out = SecretTransform::draw(paper && g.input_side ? MatrixKind::kIdentity : opts_.matrix, ss.out_dim,
                                         opts_.kappa, rng_);
        }
        VEIL_CHECK_STATE(ss.out.dim() == ss.out_dim && gs.in.dim() == gs.in_dim, "obfuscatune: transform sizes of ",
                         model::proj_module_name(p), " do not match its weight");
        // W* = R_outᵀ · W · R_in⁻ᵀ: (Wᵀ·R_out)ᵀ, then times R_in⁻ᵀ on the right.
        at::Tensor ws = gs.in.apply(ss.out.apply(w.t(), Side::kR).t(), Side::kInverseTranspose).contiguous();
        if (check) {
          at::Tensor wd = ws.to(at::kDouble);
          ss.r = rng_.normal({ss.out_dim});
          ss.u = wd.t().mv(ss.r);
          ss.t = wd.mv(gs.s);
          stats_.secret_bytes += (ss.r.numel() + ss.u.numel() + ss.t.numel()) * 8;
        }
        stats_.secret_bytes += ss.out.secret_bytes();
        stats_.worker_weight_bytes += ws.numel() * 4;
        transport::Message q;
        q.op = "obfuscatune.load";
        q.layer = l;
        q.ints = {static_cast<std::int32_t>(p)};
        q.tensors["w"] = std::move(ws);
        (void)pool_.for_layer(l).call(std::move(q));
        sites_[{l, p}] = std::move(ss);
      }
      stats_.secret_bytes += gs.in.secret_bytes() + (gs.s.defined() ? gs.s.numel() * 8 : 0);
      groups_[{l, g.projs[0]}] = std::move(gs);
    }
  }
  const model::LinearSite head{static_cast<int>(cfg_.num_layers), Proj::kLmHead};
  auto it = weights.find(head);
  VEIL_CHECK_ARG(it != weights.end(), "obfuscatune: no LM head weight");
  lm_head_ = it->second.detach();
}

ObfuscatedExecutor::GroupSecrets& ObfuscatedExecutor::group(int layer, Proj p) {
  auto g = group_of_.find(p);
  VEIL_CHECK_ARG(g != group_of_.end(), "obfuscatune: projection ", model::proj_module_name(p), " is not in a block");
  auto it = groups_.find({layer, g->second});
  VEIL_CHECK_ARG(it != groups_.end(), "obfuscatune: no transform for layer ", layer);
  return it->second;
}

const ObfuscatedExecutor::GroupSecrets& ObfuscatedExecutor::group(int layer, Proj p) const {
  return const_cast<ObfuscatedExecutor*>(this)->group(layer, p);
}

const SecretTransform& ObfuscatedExecutor::input_transform(int layer, Proj p) const { return group(layer, p).in; }

const SecretTransform& ObfuscatedExecutor::output_transform(int layer, Proj p) const {
  auto it = sites_.find({layer, p});
  VEIL_CHECK_ARG(it != sites_.end(), "obfuscatune: no ", model::proj_module_name(p), " at layer ", layer);
  return it->second.out;
}

bool ObfuscatedExecutor::output_kept(int layer, Proj p) const {
  auto it = sites_.find({layer, p});
  VEIL_CHECK_ARG(it != sites_.end(), "obfuscatune: no ", model::proj_module_name(p), " at layer ", layer);
  return it->second.kept;
}

bool ObfuscatedExecutor::input_preapplied(int layer, Proj p) const { return group(layer, p).preapplied; }

std::vector<at::Tensor> ObfuscatedExecutor::linear(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  if (layer == cfg_.num_layers) {  // the LM head, in the enclave
    VEIL_CHECK_ARG(projs.size() == 1 && projs[0] == Proj::kLmHead, "obfuscatune: only the LM head follows the blocks");
    return {at::linear(x, lm_head_)};
  }
  return LinearExecutor::linear(layer, projs, x);
}

at::Tensor ObfuscatedExecutor::local_frozen_weight(const model::LinearSite& site) const {
  if (site.layer == cfg_.num_layers && site.proj == Proj::kLmHead) return lm_head_;
  return {};
}

bool ObfuscatedExecutor::draw_check() {
  if (opts_.freivalds_rate <= 0) return false;
  if (opts_.freivalds_rate >= 1) return true;
  return rng_.coin() < opts_.freivalds_rate;
}

void ObfuscatedExecutor::check_rows(const at::Tensor& lhs, const at::Tensor& rhs, const at::Tensor& scale, int layer,
                                    std::span<const Proj> projs, const char* pass) const {
  at::Tensor bad = (lhs - rhs).abs().le(scale * opts_.freivalds_tol).logical_not();
  if (!bad.any().item<bool>()) return;
  const auto row = bad.nonzero()[0][0].item<std::int64_t>();
  std::string names;
  for (Proj p : projs) names += std::string(names.empty() ? "" : ",") + std::string(model::proj_module_name(p));
  throw IntegrityError(util::cat("obfuscatune: the worker's ", pass, " result for layer ", layer, " (", names,
                                 ") failed the Freivalds check at row ", row, ": ", lhs[row].item<double>(), " vs ",
                                 rhs[row].item<double>()));
}

std::vector<at::Tensor> ObfuscatedExecutor::forward(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  auto t0 = std::chrono::steady_clock::now();
  const GroupSecrets& gs = group(layer, projs[0]);
  VEIL_CHECK_ARG(x.size(-1) == gs.in_dim, "obfuscatune: layer ", layer, " input has ", x.size(-1), " features, expected ",
                 gs.in_dim);
  at::Tensor x2 = x.reshape({-1, gs.in_dim}).to(at::kFloat);
  at::Tensor xs = (gs.preapplied ? x2 : gs.in.apply(x2, Side::kR)).contiguous();
  const std::int64_t rows = xs.size(0);
  transport::Message q;
  q.op = "obfuscatune.forward";
  q.layer = layer;
  q.ints = proj_ids(projs);
  q.tensors["x"] = xs;
  stats_.enclave_seconds += seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  transport::Message reply = pool_.for_layer(layer).call(std::move(q));
  stats_.worker_seconds += seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const at::Tensor& ys = reply.tensor("y");
  std::vector<std::int64_t> outs;
  std::int64_t total = 0;
  for (Proj p : projs) total += outs.emplace_back(sites_.at({layer, p}).out_dim);
  VEIL_CHECK_ARG(ys.dim() == 2 && ys.size(0) == rows && ys.size(1) == total && ys.scalar_type() == at::kFloat,
                 "obfuscatune: worker returned y of shape ", ys.sizes(), ", expected [", rows, ", ", total, "]");
  ++stats_.forward_calls;
  if (layer == 0 && projs[0] == model::block_projections(cfg_.family).attn_in[0]) stats_.tokens_forward += rows;
  if (draw_check()) {
    ++stats_.freivalds_checks;
    std::vector<at::Tensor> rs;
    at::Tensor u = at::zeros({gs.in_dim}, at::kDouble);
    for (Proj p : projs) {
      const auto& ss = sites_.at({layer, p});
      rs.push_back(ss.r);
      u += ss.u;
    }
    at::Tensor r = at::cat(rs);
    auto [yr, y_norm] = dots_and_norms(ys, r);
    auto [xu, x_norm] = dots_and_norms(xs, u);
    check_rows(yr, xu, y_norm * r.norm() + x_norm * u.norm(), layer, projs, "forward");
  }
  auto parts = at::split_with_sizes(ys, outs, 1);
  std::vector<at::Tensor> out;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    const SiteSecrets& ss = sites_.at({layer, projs[i]});
    at::Tensor y = ss.kept ? parts[i] : ss.out.apply(parts[i], Side::kInverse);
    out.push_back(y.reshape(with_last(x.sizes(), outs[i])).to(x.scalar_type()));
  }
  stats_.enclave_seconds += seconds_since(t0);
  return out;
}

at::Tensor ObfuscatedExecutor::backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> grads) {
  at::NoGradGuard no_grad;
  auto t0 = std::chrono::steady_clock::now();
  const GroupSecrets& gs = group(layer, projs[0]);
  std::vector<at::Tensor> parts, ts;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    const auto& ss = sites_.at({layer, projs[i]});
    at::Tensor gi = grads[i].reshape({-1, ss.out_dim}).to(at::kFloat);
    parts.push_back(ss.kept ? gi : ss.out.apply(gi, Side::kInverseTranspose));
    if (ss.t.defined()) ts.push_back(ss.t);
  }
  at::Tensor g = parts.size() == 1 ? parts[0].contiguous() : at::cat(parts, 1).contiguous();
  const std::int64_t rows = g.size(0);
  transport::Message q;
  q.op = "obfuscatune.backward";
  q.layer = layer;
  q.ints = proj_ids(projs);
  q.tensors["g"] = g;
  stats_.enclave_seconds += seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  transport::Message reply = pool_.for_layer(layer).call(std::move(q));
  stats_.worker_seconds += seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const at::Tensor& gxs = reply.tensor("gx");
  VEIL_CHECK_ARG(gxs.dim() == 2 && gxs.size(0) == rows && gxs.size(1) == gs.in_dim && gxs.scalar_type() == at::kFloat,
                 "obfuscatune: worker returned gx of shape ", gxs.sizes(), ", expected [", rows, ", ", gs.in_dim, "]");
  ++stats_.backward_calls;
  if (draw_check()) {
    ++stats_.freivalds_checks;
    at::Tensor t = at::cat(ts);
    auto [xs_, x_norm] = dots_and_norms(gxs, gs.s);
    auto [gt, g_norm] = dots_and_norms(g, t);
    check_rows(xs_, gt, x_norm * gs.s.norm() + g_norm * t.norm(), layer, projs, "backward");
  }
  at::Tensor gx = gs.preapplied ? gxs : gs.in.apply(gxs, Side::kTranspose);
  gx = gx.reshape(with_last(grads[0].sizes(), gs.in_dim)).to(grads[0].scalar_type());
  stats_.enclave_seconds += seconds_since(t0);
  return gx;
}

ParameterShare enclave_parameter_share(const model::ModelConfig& cfg) {
  ParameterShare s;
  s.total = cfg.num_parameters();
  std::int64_t worker = 0;
  const auto bp = model::block_projections(cfg.family);
  for (auto g : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out})
    for (Proj p : g) {
      auto [out, in] = model::proj_shape(cfg, p);
      worker += out * in;
    }
  s.worker = worker * cfg.num_layers;
  s.enclave = s.total - s.worker;
  return s;
}

}  // namespace veil::designs::obfuscatune
