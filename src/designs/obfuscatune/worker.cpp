#include "veil/designs/obfuscatune/worker.h"

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "veil/model/projection.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

using transport::ProtocolError;

class WorkerState {
 public:
  explicit WorkerState(const WorkerContext& ctx) : first_(ctx.first_layer), last_(ctx.last_layer) {}

  transport::Message load(const transport::Message& q) {
    check_layer(q);
    if (q.ints.size() != 1 || !valid_proj(q.ints[0])) throw ProtocolError("obfuscatune.load: ints must be {proj}");
    const at::Tensor& w = q.tensor("w");
    if (w.dim() != 2 || w.scalar_type() != at::kFloat || w.numel() == 0)
      throw ProtocolError("obfuscatune.load: w must be a non-empty float32 matrix");
    std::lock_guard lock(mu_);
    weights_[{q.layer, q.ints[0]}] = w.contiguous();
    for (auto it = fused_.begin(); it != fused_.end();)
      it = it->first.first == q.layer ? fused_.erase(it) : std::next(it);
    return {};
  }

  transport::Message forward(const transport::Message& q) {
    check_layer(q);
    at::Tensor w = fused(q);
    const at::Tensor& x = q.tensor("x");
    if (x.dim() != 2 || x.scalar_type() != at::kFloat || x.size(1) != w.size(1))
      throw ProtocolError(util::cat("obfuscatune.forward: x must be float32 [N, ", w.size(1), "]"));
    transport::Message r;
    r.tensors["y"] = at::linear(x, w).contiguous();
    return r;
  }

  transport::Message backward(const transport::Message& q) {
    check_layer(q);
    at::Tensor w = fused(q);
    const at::Tensor& g = q.tensor("g");
    if (g.dim() != 2 || g.scalar_type() != at::kFloat || g.size(1) != w.size(0))
      throw ProtocolError(util::cat("obfuscatune.backward: g must be float32 [N, ", w.size(0), "]"));
    transport::Message r;
    r.tensors["gx"] = at::mm(g, w).contiguous();
    return r;
  }

 private:
  static bool valid_proj(std::int32_t id) { return id >= 0 && id < static_cast<std::int32_t>(model::Proj::kLmHead); }

  void check_layer(const transport::Message& q) const {
    if (q.layer < first_ || (last_ >= 0 && q.layer >= last_))
      throw ProtocolError(util::cat(q.op, ": layer ", q.layer, " is not served here (layers ", first_, ":", last_, ")"));
  }

  // The weights of the projections in q.ints, stacked by rows (cached per group).
  at::Tensor fused(const transport::Message& q) {
    if (q.ints.empty()) throw ProtocolError(q.op + ": no projections named");
    std::lock_guard lock(mu_);
    auto key = std::make_pair(q.layer, q.ints);
    if (auto it = fused_.find(key); it != fused_.end()) return it->second;
    std::vector<at::Tensor> parts;
    for (auto id : q.ints) {
      if (!valid_proj(id)) throw ProtocolError(util::cat(q.op, ": bad projection id ", id));
      auto it = weights_.find({q.layer, id});
      if (it == weights_.end())
        throw std::logic_error(util::cat(q.op, ": no weights loaded for ",
                                         model::proj_module_name(model::proj_from_wire(id)), " at layer ", q.layer));
      parts.push_back(it->second);
    }
    if (parts.size() > 1)
      for (const auto& p : parts)
        if (p.size(1) != parts[0].size(1)) throw ProtocolError(q.op + ": projections of different input sizes");
    if (parts.size() == 1) return parts[0];
    at::Tensor w = at::cat(parts, 0).contiguous();
    // The per-projection weights become views of the stacked copy (no second copy kept).
    std::int64_t row = 0;
    for (auto id : q.ints) {
      auto& part = weights_[{q.layer, id}];
      const auto rows = part.size(0);
      part = w.narrow(0, row, rows);
      row += rows;
    }
    return fused_[key] = w;
  }

  int first_, last_;
  std::mutex mu_;
  std::map<std::pair<int, std::int32_t>, at::Tensor> weights_;
  std::map<std::pair<int, std::vector<std::int32_t>>, at::Tensor> fused_;
};

}  // namespace

void install_worker(transport::Service& service, const WorkerContext& ctx) {
  VEIL_CHECK_ARG(ctx.options.empty(), "obfuscatune worker takes no --opt (got '", ctx.options.begin()->first, "')");
  auto state = std::make_shared<WorkerState>(ctx);
  service.on("obfuscatune.load", transport::kWorkerCallers, [state](const transport::Message& q) { return state->load(q); });
  service.on("obfuscatune.forward", transport::kWorkerCallers, [state](const transport::Message& q) { return state->forward(q); });
  service.on("obfuscatune.backward", transport::kWorkerCallers, [state](const transport::Message& q) { return state->backward(q); });
}

}  // namespace veil::designs::obfuscatune
