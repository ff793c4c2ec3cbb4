#include "veil/designs/he_lora/worker.h"

#include <ATen/ATen.h>

#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <tuple>

#include "designs/he_lora/chunks.h"
#include "veil/designs/he_lora/options.h"
#include "veil/he/matmul.h"
#include "veil/he/quantize.h"
#include "veil/he/serialization.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

using transport::Message;
using transport::ProtocolError;

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

class Worker {
 public:
  Worker(std::shared_ptr<const model::ModelFiles> m, int first, int last)
      : model_(std::move(m)), first_(first), last_(last < 0 ? static_cast<int>(model_->config.num_layers) : last) {
    VEIL_CHECK_ARG(first_ >= 0 && first_ < last_ && last_ <= model_->config.num_layers, "he-lora worker: layers [",
                   first_, ", ", last_, ") outside the model's ", model_->config.num_layers, " layers");
  }

  Message setup(const Message& req) {
    he::Parameters parms;
    try {
      parms = he::load_parameters(bytes(req.blob("parameters")));
    } catch (const std::invalid_argument& e) {
      throw ProtocolError(std::string("he.setup: ") + e.what());
    }
    if (security_bits(parms) < 128) throw ProtocolError("he.setup: parameters below 128-bit security refused");
    std::lock_guard lock(mu_);
    if (!base_ || !(*base_ == parms)) {
      base_ = parms;
      plans_.clear();
      servers_.clear();
    }
    return {};
  }

  Message plan_info(const Message& req) {
    if (req.ints.size() < 3) throw ProtocolError("he.plan_info: expected ints {direction, layout, group...}");
    const int dir = req.ints[0];
    const auto layout = static_cast<he::Layout>(req.ints[1]);
    if (dir != 0 && dir != 1) throw ProtocolError("he.plan_info: bad direction");
    if (layout != he::Layout::kColumns && layout != he::Layout::kRows) throw ProtocolError("he.plan_info: bad layout");
    std::vector<std::int32_t> group(req.ints.begin() + 2, req.ints.end());
    std::lock_guard lock(mu_);
    const Plans& p = plans(req.layer, group, dir);
    Message r;
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      r.blobs["p" + std::to_string(i)] = str(p.servers[i]->plan_info(p.ids[i], layout));
      r.blobs["s" + std::to_string(i)] = str(he::save(p.servers[i]->context().parameters()));
      r.ints.push_back(static_cast<std::int32_t>(p.inner[i]));
    }
    return r;
  }

  Message multiply(const Message& req, int dir) {
    if (req.ints.empty()) throw ProtocolError(req.op + ": expected the group's projection ids in ints");
    if (!req.tensors.empty()) throw ProtocolError(req.op + ": plaintext tensors are not accepted");
    std::vector<std::int32_t> group(req.ints.begin(), req.ints.end());
    const Plans* p;
    {
      std::lock_guard lock(mu_);
      p = &plans(req.layer, group, dir);
    }
    if (req.blobs.size() != p->ids.size())
      throw ProtocolError(req.op + ": " + std::to_string(req.blobs.size()) + " uploads for " +
                          std::to_string(p->ids.size()) + " inner chunks");
    Message r;
    for (std::size_t i = 0; i < p->ids.size(); ++i) {
      const std::string name = std::to_string(i);
      r.blobs["y" + name] = str(p->servers[i]->multiply(bytes(req.blob("x" + name)), p->ids[i]));
    }
    return r;
  }

 private:
  struct Plans {
    std::vector<std::uint64_t> ids;
    std::vector<std::int64_t> inner;
    std::vector<he::HeMatmulServer*> servers;  // the parameter set of each chunk's plan
  };

  // Quantises a chunk's weight (rows x cols, row-major; the plan multiplies by it, or by its
  // transpose) and adds it as a plan under the parameters its own bounds need (docs/he.md §3.1):
  // the session's bit widths, precision and ring dimension, t and Delta from the actual weights.
  void add_plan(Plans& p, std::span<const float> data, std::size_t rows, std::size_t cols, bool transpose,
                std::int64_t inner, const he::ShapeBounds& extra = {}, int input_bits = 0,
                he::Precision precision = he::Precision::kExact, bool base_precision = true) {
    const he::Parameters& base = *base_;
    he::QuantizedColumns q = he::quantize_columns(data, rows, cols, static_cast<int>(base.weight_bits));
    he::ShapeBounds b = he::weight_bounds(q.values, rows, cols, transpose);
    b.input_l1 = extra.input_l1;
    const auto prec = base_precision ? static_cast<he::Precision>(base.precision) : precision;
    const he::Parameters parms =
        he::Parameters::for_matmul(input_bits > 0 ? input_bits : static_cast<int>(base.input_bits),
                                   static_cast<int>(base.weight_bits), static_cast<std::size_t>(inner),
                                   base.poly_degree, prec, b);
    if (parms.poly_degree != base.poly_degree)
      throw ProtocolError("he: a plan of inner dimension " + std::to_string(inner) + " needs N = " +
                          std::to_string(parms.poly_degree) + ", the session uses " + std::to_string(base.poly_degree));
    auto& server = servers_[parms.hash()];
    if (!server) server = std::make_unique<he::HeMatmulServer>(parms);
    p.ids.push_back(server->add_weights(data, rows, cols, transpose));
    p.inner.push_back(inner);
    p.servers.push_back(server.get());
  }

  // The embedding as a table lookup (docs/designs/he-lora.md §1): with C = min(N, vocab), the table
  // E [vocab, d] is re-laid as W' [C, chunks * d], W'[j][t d + c] = E[t C + j][c]; the data owner
  // uploads the one-hot of (token mod C) (C coefficients, L1 norm 1) and keeps chunk token / C of
  // the result. The worker returns every chunk, so it learns nothing about the token.
  Plans embedding_plan() {
    const at::Tensor e = model_->weights.params.tok_emb.to(at::kFloat);
    const std::int64_t v = e.size(0), d = e.size(1);
    const std::int64_t c = std::min<std::int64_t>(base_->poly_degree, v), chunks = (v + c - 1) / c;
    at::Tensor padded = at::zeros({chunks * c, d}, at::kFloat);
    padded.narrow(0, 0, v).copy_(e);
    at::Tensor wp = padded.view({chunks, c, d}).permute({1, 0, 2}).reshape({c, chunks * d}).contiguous();
    Plans p;
    he::ShapeBounds one_hot;
    one_hot.input_l1 = 1;
    add_plan(p, std::span<const float>(wp.data_ptr<float>(), static_cast<std::size_t>(c * chunks * d)),
             static_cast<std::size_t>(c), static_cast<std::size_t>(chunks * d), false, c, one_hot, 2,
             he::Precision::kExact, false);
    return p;
  }

  // The group's fused base weight [out, in] (out = the outputs of the group, concatenated).
  at::Tensor weight(int layer, const std::vector<std::int32_t>& group) const {
    const auto& cfg = model_->config;
    const int L = static_cast<int>(cfg.num_layers);
    if (layer == -1) {
      if (group.size() != 1 || group[0] != kEmbedGroup) throw ProtocolError("he: layer -1 is the embedding only");
      if (first_ != 0) throw ProtocolError("he: the embedding belongs to the worker holding layer 0");
      return model_->weights.params.tok_emb.t();
    }
    const bool head = layer == L;
    if (!(head ? last_ == L : layer >= first_ && layer < last_))
      throw ProtocolError("he: layer " + std::to_string(layer) + " is not served here (layers [" +
                          std::to_string(first_) + ", " + std::to_string(last_) + "))");
    std::vector<at::Tensor> parts;
    for (std::int32_t id : group) {
      if (id < 0 || id > static_cast<int>(model::Proj::kLmHead)) throw ProtocolError("he: bad projection id");
      auto it = model_->weights.linear.find({layer, static_cast<model::Proj>(id)});
      if (it == model_->weights.linear.end())
        throw ProtocolError("he: no weight for projection " + std::to_string(id) + " at layer " + std::to_string(layer));
      parts.push_back(it->second);
    }
    return parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  }

  const Plans& plans(int layer, const std::vector<std::int32_t>& group, int dir) {
    if (!base_) throw transport::TransportError(transport::ErrorCode::kFailedPrecondition, "he: no he.setup yet");
    auto key = std::make_tuple(layer, group, dir);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
    if (layer == -1) {
      (void)weight(layer, group);  // checks the group and that this worker holds layer 0
      if (dir != 0) throw ProtocolError("he: the embedding has no backward product");
      return plans_[key] = embedding_plan();
    }
    at::Tensor w = weight(layer, group).to(at::kFloat);
    const std::int64_t max_k = base_->max_inner_dim;
    Plans p;
    const std::int64_t inner = dir == 0 ? w.size(1) : w.size(0);
    std::int64_t at0 = 0;
    for (std::int64_t k : inner_chunks(inner, max_k)) {
      // Forward: x[:, chunk] · (W[:, chunk])ᵀ. Backward: g[:, chunk] · W[chunk, :] (transposed plan).
      at::Tensor wt = (dir == 0 ? w.narrow(1, at0, k) : w.narrow(0, at0, k)).t().contiguous();
      const auto rows = static_cast<std::size_t>(wt.size(0)), cols = static_cast<std::size_t>(wt.size(1));
      add_plan(p, std::span<const float>(wt.data_ptr<float>(), rows * cols), rows, cols, dir == 1, k);
      at0 += k;
    }
    return plans_[key] = std::move(p);
  }

  std::shared_ptr<const model::ModelFiles> model_;
  int first_, last_;
  std::mutex mu_;
  std::optional<he::Parameters> base_;  // the session's parameters (he.setup)
  std::map<std::uint64_t, std::unique_ptr<he::HeMatmulServer>> servers_;  // by parameter hash
  std::map<std::tuple<int, std::vector<std::int32_t>, int>, Plans> plans_;
};

}  // namespace

void install_worker(transport::Service& service, std::shared_ptr<const model::ModelFiles> model, int first_layer,
                    int last_layer) {
  auto w = std::make_shared<Worker>(std::move(model), first_layer, last_layer);
  service.on("he.setup", transport::kWorkerCallers, [w](const Message& m) { return w->setup(m); });
  service.on("he.plan_info", transport::kWorkerCallers, [w](const Message& m) { return w->plan_info(m); });
  service.on("he.forward", transport::kWorkerCallers, [w](const Message& m) { return w->multiply(m, 0); });
  service.on("he.backward", transport::kWorkerCallers, [w](const Message& m) { return w->multiply(m, 1); });
}

}  // namespace veil::designs::he_lora
