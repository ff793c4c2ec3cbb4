#include "veil/designs/he_lora/executor.h"

#include <ATen/ATen.h>

#include <numeric>
#include <shared_mutex>
#include <string>

#include "veil/designs/he_lora/worker.h"
#include "veil/he/serialization.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

std::vector<std::int32_t> group_ids(std::span<const model::Proj> projs) {
  std::vector<std::int32_t> g;
  for (auto p : projs) g.push_back(static_cast<std::int32_t>(p));
  return g;
}

std::vector<std::int64_t> leading(const at::Tensor& t, std::int64_t last) {
  auto s = t.sizes().vec();
  s.back() = last;
  return s;
}

}  // namespace

HeLoraExecutor::HeLoraExecutor(const model::ModelConfig& cfg, transport::WorkerPool pool, const he::Parameters& parms,
                               at::Tensor local_head)
    : cfg_(cfg), pool_(std::move(pool)), parms_(parms), client_(parms), local_head_(std::move(local_head)) {
  pool_.check_covers(static_cast<int>(cfg_.num_layers));
  transport::Message m;
  m.op = "he.setup";
  m.blobs["parameters"] = str(he::save(parms_));
  for (const auto& w : pool_.workers()) (void)w.endpoint->call(m);
}

transport::Endpoint& HeLoraExecutor::route(int layer) const {
  const int L = static_cast<int>(cfg_.num_layers);
  if (layer < 0) return pool_.for_layer(0);
  if (layer >= L) return pool_.for_layer(L - 1);
  return pool_.for_layer(layer);
}

HeTraffic HeLoraExecutor::traffic() const {
  std::lock_guard lock(mu_);
  return traffic_;
}

std::size_t HeLoraExecutor::mask_bytes() const {
  std::shared_lock client(client_mu_);
  return client_.mask_bytes();
}

const HeLoraExecutor::PlanSet& HeLoraExecutor::plans(int layer, const std::vector<std::int32_t>& group, int direction,
                                                      he::Layout layout) {
  auto key = std::make_tuple(layer, group, direction, static_cast<int>(layout));
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  // One fetch per key even when pipelined micro-batches miss at once: a second add_plan_info of
  // the same plan would replace a mask another thread is decrypting with.
  std::lock_guard fetch(fetch_mu_);
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  transport::Message req;
  req.op = "he.plan_info";
  req.layer = layer;
  req.ints = {direction, static_cast<std::int32_t>(layout)};
  req.ints.insert(req.ints.end(), group.begin(), group.end());
  auto reply = route(layer).call(req);
  PlanSet ps;
  std::uint64_t info_bytes = 0;
  {
    std::unique_lock client(client_mu_);
    for (std::size_t i = 0; i < reply.ints.size(); ++i) {
      const std::string& blob = reply.blob("p" + std::to_string(i));
      info_bytes += blob.size();
      ps.ids.push_back(client_.add_plan_info(bytes(blob)));
      ps.chunk.push_back(reply.ints[i]);
    }
  }
  VEIL_CHECK_ARG(!ps.ids.empty(), "he.plan_info: the worker returned no plans for layer ", layer);
  std::lock_guard lock(mu_);
  traffic_.plan_info_bytes += info_bytes;
  return plans_[key] = std::move(ps);
}

at::Tensor HeLoraExecutor::product(int layer, const std::vector<std::int32_t>& group, int direction,
                                   const at::Tensor& x2d) {
  const auto m = static_cast<std::size_t>(x2d.size(0));
  const std::int64_t k = x2d.size(1);
  const he::Layout layout = he::choose_layout(parms_, m);
  const PlanSet& ps = plans(layer, group, direction, layout);
  VEIL_CHECK_STATE(std::accumulate(ps.chunk.begin(), ps.chunk.end(), std::int64_t{0}) == k, "he-lora: the worker's ",
                   "plans for layer ", layer, " cover another inner dimension than ", k);
  transport::Message req;
  req.op = direction == 0 ? "he.forward" : "he.backward";
  req.layer = layer;
  req.ints = group;
  std::vector<std::unique_ptr<he::HeMatmulClient::Upload>> pending(ps.ids.size());
  std::uint64_t up = 0;
  {
    std::shared_lock client(client_mu_);  // encryptions of concurrent micro-batches run side by side
    std::int64_t at0 = 0;
    for (std::size_t i = 0; i < ps.ids.size(); ++i) {
      at::Tensor xc = x2d.narrow(1, at0, ps.chunk[i]).contiguous();
      at0 += ps.chunk[i];
      std::span<const float> data(xc.data_ptr<float>(), m * static_cast<std::size_t>(ps.chunk[i]));
      auto blob = client_.encrypt(data, m, static_cast<std::size_t>(ps.chunk[i]), pending[i],
                                  direction == 1 ? ps.ids[i] : 0);
      up += blob.size();
      req.blobs["x" + std::to_string(i)] = str(blob);
    }
  }
  auto reply = route(layer).call(std::move(req));
  at::Tensor acc;
  std::uint64_t down = 0;
  std::shared_lock client(client_mu_);
  for (std::size_t i = 0; i < ps.ids.size(); ++i) {
    const std::string& blob = reply.blob("y" + std::to_string(i));
    down += blob.size();
    std::vector<float> y = client_.decrypt(bytes(blob), *pending[i]);
    const auto n = static_cast<std::int64_t>(y.size() / m);
    at::Tensor t = at::from_blob(y.data(), {static_cast<std::int64_t>(m), n}, at::kFloat);
    acc = acc.defined() ? acc.add_(t) : t.clone();
  }
  std::lock_guard lock(mu_);
  traffic_.uploads += ps.ids.size();
  traffic_.results += ps.ids.size();
  traffic_.upload_bytes += up;
  traffic_.result_bytes += down;
  return acc;
}

std::vector<at::Tensor> HeLoraExecutor::linear(int layer, std::span<const model::Proj> projs, const at::Tensor& x) {
  if (layer == static_cast<int>(cfg_.num_layers) && local_head_.defined()) return {at::linear(x, local_head_)};
  return LinearExecutor::linear(layer, projs, x);
}

std::vector<at::Tensor> HeLoraExecutor::forward(int layer, std::span<const model::Proj> projs, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const std::int64_t in = x.size(-1);
  at::Tensor y = product(layer, group_ids(projs), 0, x.detach().reshape({-1, in}).to(at::kFloat).contiguous());
  std::vector<at::Tensor> out;
  std::int64_t at0 = 0;
  for (auto p : projs) {
    const std::int64_t n = model::proj_shape(cfg_, p).first;
    out.push_back(y.narrow(1, at0, n).reshape(leading(x, n)).to(x.scalar_type()));
    at0 += n;
  }
  VEIL_CHECK_STATE(at0 == y.size(1), "he-lora: worker returned ", y.size(1), " outputs, expected ", at0);
  return out;
}

at::Tensor HeLoraExecutor::backward(int layer, std::span<const model::Proj> projs, std::span<const at::Tensor> grads) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& g : grads) flat.push_back(g.detach().reshape({-1, g.size(-1)}).to(at::kFloat));
  at::Tensor g2d = at::cat(flat, 1).contiguous();
  at::Tensor gx = product(layer, group_ids(projs), 1, g2d);
  const std::int64_t in = model::proj_shape(cfg_, projs[0]).second;
  return gx.reshape(leading(grads[0], in)).to(grads[0].scalar_type());
}

at::Tensor HeLoraExecutor::embed(const at::Tensor& ids) {
  at::NoGradGuard no_grad;
  at::Tensor flat = ids.reshape({-1});
  at::Tensor onehot = at::one_hot(flat, cfg_.vocab_size).to(at::kFloat).contiguous();
  at::Tensor e = product(-1, {kEmbedGroup}, 0, onehot);
  auto shape = ids.sizes().vec();
  shape.push_back(cfg_.hidden_size);
  return e.reshape(shape);
}

}  // namespace veil::designs::he_lora
