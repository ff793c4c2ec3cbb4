#include "designs/plain/worker.h"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>

#include "veil/designs/common/layer_range.h"
#include "veil/model/layer_reader.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/transport/message.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::designs::plain {

using model::Proj;
using transport::Message;
using transport::ProtocolError;

LayerWeights::LayerWeights(const model::ModelConfig& cfg, const model::LinearWeights& all, int first, int last)
    : LayerWeights(cfg, [&all](int l, Proj p) {
        auto it = all.find({l, p});
        VEIL_CHECK_ARG(it != all.end(), "model has no weight for ", model::proj_module_name(p), " at layer ", l);
        return it->second;
      }, first, last) {}

LayerWeights::LayerWeights(const model::ModelConfig& cfg, const Source& source, int first, int last)
    : first_(first), last_(common::layer_range(first, last, cfg.num_layers, "plain worker").last) {
  const auto bp = model::block_projections(cfg.family);
  for (int l = first_; l < last_; ++l) {
    for (auto span : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out}) {
      Group g;
      std::vector<at::Tensor> parts;
      for (Proj p : span) {
        parts.push_back(source(l, p));
        g.projs.push_back(p);
        g.rows.push_back(parts.back().size(0));
      }
      g.weight = parts.size() == 1 ? parts[0].contiguous() : at::cat(parts, 0).contiguous();
      groups_[l].push_back(std::move(g));
    }
  }
}

std::int64_t LayerWeights::bytes() const {
  std::int64_t n = 0;
  for (const auto& [l, gs] : groups_)
    for (const auto& g : gs) n += g.weight.numel() * static_cast<std::int64_t>(g.weight.element_size());
  return n;
}

const LayerWeights::Group* LayerWeights::find(int layer, std::span<const Proj> projs) const {
  if (layer < first_ || layer >= last_)
    throw ProtocolError(util::cat("layer ", layer, " is not served by this worker (it serves ", first_, ":", last_, ")"));
  for (const auto& g : groups_.at(layer))
    if (std::equal(g.projs.begin(), g.projs.end(), projs.begin(), projs.end())) return &g;
  return nullptr;
}

at::Tensor LayerWeights::single(int layer, Proj p) const {
  for (const auto& g : groups_.at(layer)) {
    std::int64_t row = 0;
    for (std::size_t i = 0; i < g.projs.size(); ++i) {
      if (g.projs[i] == p) return g.weight.narrow(0, row, g.rows[i]);
      row += g.rows[i];
    }
  }
  throw ProtocolError(util::cat("layer ", layer, " has no projection ", static_cast<int>(p)));
}

std::vector<at::Tensor> LayerWeights::forward(int layer, std::span<const Proj> projs, const at::Tensor& x) const {
  if (projs.empty()) throw ProtocolError("plain.forward: no projections");
  const Group* g = find(layer, projs);
  at::Tensor w = g ? g->weight : at::Tensor();
  std::vector<std::int64_t> rows;
  if (!g) {  // a subset of a group: multiply by each projection's rows
    std::vector<at::Tensor> parts;
    for (Proj p : projs) {
      parts.push_back(single(layer, p));
      rows.push_back(parts.back().size(0));
    }
    w = at::cat(parts, 0);
  } else {
    rows = g->rows;
  }
  if (x.dim() < 1 || x.size(-1) != w.size(1) || !at::isFloatingType(x.scalar_type()))
    throw ProtocolError(util::cat("plain.forward: layer ", layer, " expects a floating-point x [..., ", w.size(1),
                                  "], got shape ", x.sizes()));
  at::NoGradGuard no_grad;
  at::Tensor y = at::linear(x.to(w.scalar_type()), w).to(x.scalar_type());
  if (rows.size() == 1) return {y};
  auto parts = at::split_with_sizes(y, rows, -1);
  std::vector<at::Tensor> out;
  for (auto& p : parts) out.push_back(p.contiguous());
  return out;
}

at::Tensor LayerWeights::backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> grads) const {
  if (projs.empty() || projs.size() != grads.size())
    throw ProtocolError("plain.backward: needs one gradient per projection");
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> ws;
  const Group* g = find(layer, projs);
  for (std::size_t i = 0; i < projs.size(); ++i) {
    at::Tensor w = g ? g->weight.narrow(0, std::accumulate(g->rows.begin(), g->rows.begin() + i, std::int64_t{0}),
                                        g->rows[i])
                     : single(layer, projs[i]);
    const auto& gi = grads[i];
    if (gi.dim() < 1 || gi.size(-1) != w.size(0) || !at::isFloatingType(gi.scalar_type()) ||
        (i > 0 && gi.sizes().slice(0, gi.dim() - 1) != grads[0].sizes().slice(0, grads[0].dim() - 1)))
      throw ProtocolError(util::cat("plain.backward: gradient ", i, " at layer ", layer, " has shape ", gi.sizes(),
                                    ", expected [..., ", w.size(0), "] like the others"));
    ws.push_back(w);
  }
  const auto dtype = grads[0].scalar_type();
  if (g) {  // the whole group: one GEMM with the stored matrix
    at::Tensor gcat = grads.size() == 1 ? grads[0] : at::cat(std::vector<at::Tensor>(grads.begin(), grads.end()), -1);
    return at::matmul(gcat.to(g->weight.scalar_type()), g->weight).to(dtype);
  }
  at::Tensor dx;
  for (std::size_t i = 0; i < ws.size(); ++i) {
    at::Tensor part = at::matmul(grads[i].to(ws[i].scalar_type()), ws[i]);
    dx = dx.defined() ? dx.add_(part) : part;
  }
  return dx.to(dtype);
}

namespace {

std::vector<Proj> projs_of(const Message& m, int num_proj_ids) {
  if (m.ints.empty()) throw ProtocolError(m.op + ": no projection ids");
  std::vector<Proj> ps;
  for (auto id : m.ints) {
    if (id < 0 || id >= num_proj_ids) throw ProtocolError(util::cat(m.op, ": unknown projection id ", id));
    ps.push_back(model::proj_from_wire(id));
  }
  return ps;
}

}  // namespace

void install_worker(transport::Service& service, const WorkerContext& ctx) {
  VEIL_CHECK_ARG(ctx.options.empty(), "design 'plain' workers take no --opt (got '", ctx.options.begin()->first, "')");
  std::shared_ptr<const LayerWeights> weights;
  if (std::filesystem::is_directory(ctx.model)) {
    // Only this worker's projection weights are read, tensor by tensor; the rest of the model
    // (embeddings, norms, LM head, other layers) is never loaded.
    const model::ModelReader reader(ctx.model);
    const int n = static_cast<int>(reader.config().num_layers);
    const int last = ctx.last_layer < 0 ? n : ctx.last_layer;
    VEIL_CHECK_ARG(last <= n, "--layers ", ctx.first_layer, ":", last, " exceeds the model's ", n, " layers");
    weights = std::make_shared<const LayerWeights>(
        reader.config(), [&reader](int l, Proj p) { return reader.linear(l, p); }, ctx.first_layer, last);
  } else {
    auto files = model::read_model(ctx.model);
    const int n = static_cast<int>(files.config.num_layers);
    const int last = ctx.last_layer < 0 ? n : ctx.last_layer;
    VEIL_CHECK_ARG(last <= n, "--layers ", ctx.first_layer, ":", last, " exceeds the model's ", n, " layers");
    weights = std::make_shared<const LayerWeights>(files.config, files.weights.linear, ctx.first_layer, last);
  }
  install_handlers(service, std::move(weights));
}

void install_handlers(transport::Service& service, std::shared_ptr<const LayerWeights> weights) {
  constexpr int kProjIds = static_cast<int>(Proj::kLmHead);  // the LM head is never a worker's
  service.on(kForwardOp, transport::kWorkerCallers, [weights](const Message& m) {
    auto ys = weights->forward(m.layer, projs_of(m, kProjIds), m.tensor("x"));
    Message r;
    for (std::size_t i = 0; i < ys.size(); ++i) r.tensors["y" + std::to_string(i)] = std::move(ys[i]);
    return r;
  });
  service.on(kBackwardOp, transport::kWorkerCallers, [weights](const Message& m) {
    auto ps = projs_of(m, kProjIds);
    std::vector<at::Tensor> gs;
    for (std::size_t i = 0; i < ps.size(); ++i) gs.push_back(m.tensor("g" + std::to_string(i)));
    Message r;
    r.tensors["dx"] = weights->backward(m.layer, ps, gs);
    return r;
  });
}

}  // namespace veil::designs::plain
