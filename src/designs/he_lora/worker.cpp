#include "veil/designs/he_lora/worker.h"

#include <ATen/ATen.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>

#include "designs/he_lora/plan_weights.h"
#include "veil/designs/common/layer_range.h"
#include "veil/designs/he_lora/options.h"
#include "veil/he/matmul.h"
#include "veil/he/serialization.h"
#include "veil/transport/caller.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

using transport::ErrorCode;
using transport::Message;
using transport::ProtocolError;
using transport::TransportError;

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

// One plan per inner chunk, each in its own HeMatmulServer (immutable once built, so concurrent
// multiplies need no lock).
struct Plans {
  std::vector<std::uint64_t> ids;
  std::vector<std::int64_t> inner;
  std::vector<std::shared_ptr<const he::HeMatmulServer>> servers;
};

// A data owner's session (he.setup): its parameters (with the CRS seed it drew) and the plans built
// under them. Held by shared_ptr: a call keeps its session alive while it runs outside the lock,
// even if he.close or an eviction drops it from the worker's table meanwhile.
struct Session {
  he::Parameters base;
  std::mutex mu;  // guards plans (building one)
  std::map<std::tuple<int, std::vector<std::int32_t>, int>, std::shared_ptr<const Plans>> plans;
  std::chrono::steady_clock::time_point last_used;
  std::string owner;  // transport::caller_key() of the he.setup that opened it
};

class Worker {
 public:
  Worker(std::shared_ptr<const model::ModelFiles> m, int first, int last)
      : model_(std::move(m)),
        first_(first),
        last_(common::layer_range(first, last, static_cast<int>(model_->config.num_layers), "he-lora worker").last) {}

  Message setup(const Message& req) {
    he::Parameters parms;
    try {
      parms = he::load_parameters(bytes(req.blob("parameters")));
    } catch (const std::invalid_argument& e) {
      throw ProtocolError(std::string("he.setup: ") + e.what());
    }
    if (security_bits(parms) < 128) throw ProtocolError("he.setup: parameters below 128-bit security refused");
    if (parms.poly_degree > kMaxPolyDegree)
      throw ProtocolError("he.setup: ring dimension " + std::to_string(parms.poly_degree) + " above the worker's " +
                          std::to_string(kMaxPolyDegree));
    if (parms.max_inner_dim > static_cast<std::uint32_t>(std::max<std::int64_t>(kMaxChunk, parms.poly_degree)))
      throw ProtocolError("he.setup: inner dimension " + std::to_string(parms.max_inner_dim) + " above the chunk size");
    const std::string id = session_id(req);
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(id); it != sessions_.end()) {
      transport::check_session_owner("he.setup: session", it->second->owner);
      if (!(it->second->base == parms)) throw ProtocolError("he.setup: the session exists with other parameters");
      it->second->last_used = std::chrono::steady_clock::now();
      return {};  // a retried he.setup
    }
    if (sessions_.size() >= kMaxSessions) {
      // Evict the least recently used session with no call in flight; refuse when all are busy.
      auto victim = sessions_.end();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
        if (it->second.use_count() == 1 && (victim == sessions_.end() || it->second->last_used < victim->second->last_used))
          victim = it;
      if (victim == sessions_.end())
        throw TransportError(ErrorCode::kResourceExhausted,
                             "he.setup: " + std::to_string(kMaxSessions) + " sessions are busy on this worker");
      sessions_.erase(victim);
    }
    auto s = std::make_shared<Session>();
    s->base = parms;
    s->last_used = std::chrono::steady_clock::now();
    s->owner = transport::caller_key();
    sessions_.emplace(id, std::move(s));
    return {};
  }

  Message close(const Message& req) {
    const std::string id = session_id(req);
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(id); it != sessions_.end())
      transport::check_session_owner("he.close: session", it->second->owner);
    sessions_.erase(id);  // calls in flight keep their shared_ptr
    return {};
  }

  Message plan_info(const Message& req) {
    if (req.ints.size() < 3 || req.ints.size() > 2 + kMaxGroup)
      throw ProtocolError("he.plan_info: expected ints {direction, layout, group...}");
    const int dir = req.ints[0];
    const auto layout = static_cast<he::Layout>(req.ints[1]);
    if (dir != 0 && dir != 1) throw ProtocolError("he.plan_info: bad direction");
    if (layout != he::Layout::kColumns && layout != he::Layout::kRows) throw ProtocolError("he.plan_info: bad layout");
    std::vector<std::int32_t> group(req.ints.begin() + 2, req.ints.end());
    auto s = session(req);
    auto p = plans(*s, req.layer, group, dir);
    Message r;
    for (std::size_t i = 0; i < p->ids.size(); ++i) {
      // plan_info is not const in HeMatmulServer's API but does not modify it (make_mask is const).
      auto& server = const_cast<he::HeMatmulServer&>(*p->servers[i]);
      r.blobs["p" + std::to_string(i)] = str(server.plan_info(p->ids[i], layout));
      r.blobs["s" + std::to_string(i)] = str(he::save(p->servers[i]->context().parameters()));
      r.ints.push_back(static_cast<std::int32_t>(p->inner[i]));
    }
    return r;
  }

  Message multiply(const Message& req, int dir) {
    if (req.ints.empty() || req.ints.size() > kMaxGroup)
      throw ProtocolError(req.op + ": expected the group's projection ids in ints");
    if (!req.tensors.empty()) throw ProtocolError(req.op + ": plaintext tensors are not accepted");
    std::vector<std::int32_t> group(req.ints.begin(), req.ints.end());
    auto s = session(req);
    auto p = plans(*s, req.layer, group, dir);
    if (req.blobs.size() != p->ids.size() + 1)
      throw ProtocolError(req.op + ": " + std::to_string(req.blobs.size() - 1) + " uploads for " +
                          std::to_string(p->ids.size()) + " inner chunks");
    Message r;
    for (std::size_t i = 0; i < p->ids.size(); ++i) {
      const std::string name = std::to_string(i);
      r.blobs["y" + name] = str(p->servers[i]->multiply(bytes(req.blob("x" + name)), p->ids[i]));
    }
    return r;
  }

  [[nodiscard]] std::size_t sessions() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

 private:
  static std::string session_id(const Message& req) {
    const std::string& id = req.blob("session");
    if (id.size() != kSessionIdBytes)
      throw ProtocolError(req.op + ": the session id must be " + std::to_string(kSessionIdBytes) + " bytes");
    return id;
  }

  std::shared_ptr<Session> session(const Message& req) {
    const std::string id = session_id(req);
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end())
      throw TransportError(ErrorCode::kFailedPrecondition, req.op + ": no he.setup for this session");
    transport::check_session_owner(req.op + ": session", it->second->owner);
    it->second->last_used = std::chrono::steady_clock::now();
    return it->second;
  }

  // The group's plans in `s`, built on first use under the parameters their weights need
  // (docs/he.md §3.1): the session's bit widths, precision, ring dimension and CRS seed, t and
  // Delta from the actual weights.
  std::shared_ptr<const Plans> plans(Session& s, int layer, const std::vector<std::int32_t>& group, int dir) {
    check_served(layer, group);
    std::lock_guard lock(s.mu);
    auto key = std::make_tuple(layer, group, dir);
    if (auto it = s.plans.find(key); it != s.plans.end()) return it->second;
    const he::Parameters& base = s.base;
    auto p = std::make_shared<Plans>();
    for (const PlanWeights& w : plan_weights(*model_, layer, group, dir, base.poly_degree, base.max_inner_dim)) {
      const auto rows = static_cast<std::size_t>(w.data.size(0)), cols = static_cast<std::size_t>(w.data.size(1));
      std::span<const float> data(w.data.data_ptr<float>(), rows * cols);
      he::QuantizedColumns q = he::quantize_columns(data, rows, cols, static_cast<int>(base.weight_bits));
      he::ShapeBounds b = he::weight_bounds(q.values, rows, cols, w.transpose);
      if (w.lookup) b.input_l1 = 1;
      const auto prec = w.lookup ? he::Precision::kExact : static_cast<he::Precision>(base.precision);
      he::Parameters parms = he::Parameters::for_matmul(w.lookup ? 2 : static_cast<int>(base.input_bits),
                                                        static_cast<int>(base.weight_bits),
                                                        static_cast<std::size_t>(w.inner), base.poly_degree, prec, b);
      if (parms.poly_degree != base.poly_degree)
        throw ProtocolError("he: a plan of inner dimension " + std::to_string(w.inner) + " needs N = " +
                            std::to_string(parms.poly_degree) + ", the session uses " + std::to_string(base.poly_degree));
      parms.crs_seed = base.crs_seed;  // the session's CRS (the data owner drew it)
      auto server = std::make_shared<he::HeMatmulServer>(parms);
      p->ids.push_back(server->add_weights(data, rows, cols, w.transpose));
      p->inner.push_back(w.inner);
      p->servers.push_back(std::move(server));
    }
    s.plans[key] = p;
    return p;
  }

  void check_served(int layer, const std::vector<std::int32_t>& group) const {
    const int L = static_cast<int>(model_->config.num_layers);
    if (layer == -1) {
      if (first_ != 0) throw ProtocolError("he: the embedding belongs to the worker holding layer 0");
      return;
    }
    const bool head = layer == L;
    if (!(head ? last_ == L : layer >= first_ && layer < last_))
      throw ProtocolError("he: layer " + std::to_string(layer) + " is not served here (layers [" +
                          std::to_string(first_) + ", " + std::to_string(last_) + "))");
    (void)group;
  }

  std::shared_ptr<const model::ModelFiles> model_;
  int first_, last_;
  mutable std::mutex mu_;  // guards sessions_
  std::map<std::string, std::shared_ptr<Session>> sessions_;  // by session id
};

}  // namespace

void install_worker(transport::Service& service, std::shared_ptr<const model::ModelFiles> model, int first_layer,
                    int last_layer) {
  auto w = std::make_shared<Worker>(std::move(model), first_layer, last_layer);
  service.on("he.setup", transport::kWorkerCallers, [w](const Message& m) { return w->setup(m); });
  service.on("he.close", transport::kWorkerCallers, [w](const Message& m) { return w->close(m); });
  service.on("he.plan_info", transport::kWorkerCallers, [w](const Message& m) { return w->plan_info(m); });
  service.on("he.forward", transport::kWorkerCallers, [w](const Message& m) { return w->multiply(m, 0); });
  service.on("he.backward", transport::kWorkerCallers, [w](const Message& m) { return w->multiply(m, 1); });
}

}  // namespace veil::designs::he_lora
