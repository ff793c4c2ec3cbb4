#include "veil/model/linear_executor.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <set>

#include "veil/util/check.h"

namespace veil::model {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Routes autograd through an executor's explicit forward/backward pair.
struct ExecutorAutograd : public torch::autograd::Function<ExecutorAutograd> {
  static variable_list forward(AutogradContext* ctx, LinearExecutor* exec, int64_t layer,
                               std::vector<int64_t> projs, const at::Tensor& x) {
    ctx->saved_data["exec"] = reinterpret_cast<int64_t>(exec);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["projs"] = projs;
    std::vector<Proj> ps;
    for (int64_t id : projs) ps.push_back(static_cast<Proj>(id));
    return exec->forward(static_cast<int>(layer), ps, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* exec = reinterpret_cast<LinearExecutor*>(ctx->saved_data["exec"].toInt());
    auto layer = static_cast<int>(ctx->saved_data["layer"].toInt());
    auto ids = ctx->saved_data["projs"].toIntVector();
    std::vector<Proj> ps;
    std::vector<at::Tensor> gs;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!grads[i].defined()) continue;  // that output did not reach the loss
      ps.push_back(static_cast<Proj>(ids[i]));
      gs.push_back(grads[i]);
    }
    at::Tensor gx;
    if (!ps.empty()) gx = exec->backward(layer, ps, gs);
    return {at::Tensor(), at::Tensor(), at::Tensor(), gx};
  }
};

namespace {

// x·Wᵀ. A single row (decoding) goes through GEMV: OpenBLAS 0.3.21 runs a one-row GEMM through its
// packing path, which copies all of W on every call (three times the memory traffic of sgemv,
// and decoding is bound by reading the weights).
at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& w) {
  if (x.numel() != x.size(-1) || !w.is_contiguous()) return at::linear(x, w);
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(0);
  return at::mv(w, x.reshape({-1})).view(sizes);
}

}  // namespace

std::vector<at::Tensor> LinearExecutor::linear(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  std::vector<int64_t> ids(projs.size());
  for (std::size_t i = 0; i < projs.size(); ++i) ids[i] = static_cast<int64_t>(projs[i]);
  if (!x.requires_grad()) {
    at::NoGradGuard no_grad;
    return forward(layer, projs, x);
  }
  return ExecutorAutograd::apply(this, static_cast<int64_t>(layer), ids, x);
}

PlainExecutor::PlainExecutor(LinearWeights weights, bool train_base)
    : weights_(std::move(weights)), train_base_(train_base) {
  for (auto& [site, w] : weights_) {
    VEIL_CHECK_ARG(w.defined() && w.dim() == 2, "PlainExecutor: weight of ", proj_module_name(site.proj), " at layer ",
                   site.layer, " must be a matrix");
    if (train_base_) w = w.detach().requires_grad_(true);
  }
  if (train_base_) return;
  // Store each input-sharing group (q/k/v, gate/up) once, as one matrix; the per-projection
  // weights become views of it, so fusing costs no memory.
  static const std::vector<std::vector<Proj>> kGroups{{Proj::kQ, Proj::kK, Proj::kV}, {Proj::kGate, Proj::kUp}};
  std::set<int> layers;
  for (const auto& [site, w] : weights_) layers.insert(site.layer);
  for (int l : layers)
    for (const auto& g : kGroups) {
      std::vector<at::Tensor> parts;
      for (Proj p : g)
        if (auto it = weights_.find({l, p}); it != weights_.end()) parts.push_back(it->second);
      if (parts.size() != g.size()) continue;
      at::Tensor cat = at::cat(parts, 0).contiguous();
      std::int64_t row = 0;
      for (Proj p : g) {
        auto& w = weights_[{l, p}];
        const auto rows = w.size(0);
        w = cat.narrow(0, row, rows);
        row += rows;
      }
      fused_[{l, g[0]}] = cat;
    }
}

const at::Tensor& PlainExecutor::weight(int layer, Proj p) const {
  auto it = weights_.find({layer, p});
  VEIL_CHECK_STATE(it != weights_.end(), "PlainExecutor: no weight for ", proj_module_name(p), " at layer ", layer);
  return it->second;
}

const at::Tensor& PlainExecutor::fused(int layer, std::span<const Proj> projs) {
  if (projs.size() == 1) return weight(layer, projs[0]);
  auto key = std::make_pair(layer, projs[0]);
  auto it = fused_.find(key);
  if (it != fused_.end()) return it->second;
  std::vector<at::Tensor> parts;
  for (Proj p : projs) parts.push_back(weight(layer, p));
  return fused_[key] = at::cat(parts, 0).contiguous();
}

void PlainExecutor::invalidate_fused() { fused_.clear(); }

std::vector<at::Tensor> PlainExecutor::linear(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  if (train_base_) {
    std::vector<at::Tensor> ys;
    for (Proj p : projs) ys.push_back(linear_rows(x, weight(layer, p)));
    return ys;
  }
  const at::Tensor& w = fused(layer, projs);
  at::Tensor y = linear_rows(x, w);
  if (projs.size() == 1) return {y};
  std::vector<int64_t> sizes;
  for (Proj p : projs) sizes.push_back(weight(layer, p).size(0));
  auto parts = at::split_with_sizes(y, sizes, -1);
  return {parts.begin(), parts.end()};
}

at::Tensor PlainExecutor::local_frozen_weight(const LinearSite& site) const {
  auto it = weights_.find(site);
  if (it == weights_.end() || it->second.requires_grad()) return {};
  return it->second;
}

std::vector<at::Tensor> PlainExecutor::forward(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  at::NoGradGuard g;
  return linear(layer, projs, x);
}

at::Tensor PlainExecutor::backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> grads) {
  at::NoGradGuard g;
  // A fused group with every gradient present: one GEMM [.., Σout]·W_group instead of one per
  // projection plus the sums.
  if (projs.size() > 1 && !train_base_) {
    auto it = fused_.find({layer, projs[0]});
    std::int64_t rows = 0;
    for (std::size_t i = 0; i < projs.size(); ++i) rows += grads[i].defined() ? weight(layer, projs[i]).size(0) : -1;
    if (it != fused_.end() && rows == it->second.size(0))
      return at::matmul(at::cat(std::vector<at::Tensor>(grads.begin(), grads.end()), -1), it->second);
  }
  at::Tensor gx;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    at::Tensor part = at::matmul(grads[i], weight(layer, projs[i]));
    gx = gx.defined() ? gx.add_(part) : part;
  }
  return gx;
}

}  // namespace veil::model
