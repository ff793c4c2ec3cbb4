#include "designs/plain/remote_executor.h"

#include <ATen/ATen.h>

#include "designs/plain/worker.h"
#include "veil/transport/message.h"
#include "veil/util/check.h"

namespace veil::designs::plain {

using model::Proj;
using transport::ErrorCode;
using transport::Message;
using transport::TransportError;

RemoteExecutor::RemoteExecutor(const transport::WorkerPool& workers, int num_layers, at::Tensor lm_head)
    : num_layers_(num_layers), lm_head_(std::move(lm_head)) {
  VEIL_CHECK_ARG(lm_head_.defined() && lm_head_.dim() == 2, "RemoteExecutor: the LM head must be a matrix");
  workers.check_covers(num_layers);
  for (const auto& w : workers.workers()) slots_.push_back({w.endpoint, w.first_layer, w.last_layer, {}});
}

std::vector<at::Tensor> RemoteExecutor::linear(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  if (layer == num_layers_) {  // the LM head: local, an ordinary differentiable product
    VEIL_CHECK_ARG(projs.size() == 1 && projs[0] == Proj::kLmHead, "RemoteExecutor: layer ", layer,
                   " is the LM head's");
    return {at::linear(x, lm_head_)};
  }
  return LinearExecutor::linear(layer, projs, x);
}

Message RemoteExecutor::call(int layer, Message request) {
  std::shared_ptr<transport::Endpoint> ep;
  std::size_t index = 0;
  {
    std::lock_guard lock(mu_);
    for (; index < slots_.size(); ++index)
      if (layer >= slots_[index].first_layer && layer < slots_[index].last_layer) break;
    VEIL_CHECK_ARG(index < slots_.size(), "no worker owns layer ", layer);
    ep = slots_[index].endpoint;
  }
  request.layer = layer;
  try {
    return ep->call(std::move(request));
  } catch (const TransportError& e) {
    if (e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kDeadlineExceeded) {
      std::lock_guard lock(mu_);
      if (!outage_) outage_ = index;
    }
    throw;
  }
}

std::vector<at::Tensor> RemoteExecutor::forward(int layer, std::span<const Proj> projs, const at::Tensor& x) {
  Message m;
  m.op = kForwardOp;
  for (Proj p : projs) m.ints.push_back(static_cast<std::int32_t>(p));
  m.tensors["x"] = x.detach().contiguous();
  auto r = call(layer, std::move(m));
  std::vector<at::Tensor> ys;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    const auto& y = r.tensor("y" + std::to_string(i));
    VEIL_CHECK_STATE(y.dim() == x.dim() && y.sizes().slice(0, x.dim() - 1) == x.sizes().slice(0, x.dim() - 1),
                     "worker returned y", i, " of shape ", y.sizes(), " for x of shape ", x.sizes());
    ys.push_back(y);
  }
  return ys;
}

at::Tensor RemoteExecutor::backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> grads) {
  Message m;
  m.op = kBackwardOp;
  for (std::size_t i = 0; i < projs.size(); ++i) {
    m.ints.push_back(static_cast<std::int32_t>(projs[i]));
    m.tensors["g" + std::to_string(i)] = grads[i].detach().contiguous();
  }
  auto r = call(layer, std::move(m));
  return r.tensor("dx");
}

std::optional<std::size_t> RemoteExecutor::outage() const {
  std::lock_guard lock(mu_);
  return outage_;
}

void RemoteExecutor::clear_outage() {
  std::lock_guard lock(mu_);
  outage_.reset();
}

RemoteExecutor::WorkerTraffic RemoteExecutor::worker(std::size_t i) const {
  std::lock_guard lock(mu_);
  const auto& s = slots_.at(i);
  WorkerTraffic t{s.endpoint->peer(), s.first_layer, s.last_layer, s.retired};
  t.traffic += s.endpoint->stats();
  return t;
}

std::vector<RemoteExecutor::WorkerTraffic> RemoteExecutor::traffic() const {
  std::vector<WorkerTraffic> out;
  for (std::size_t i = 0; i < num_workers(); ++i) out.push_back(worker(i));
  return out;
}

transport::TrafficStats RemoteExecutor::total_traffic() const {
  transport::TrafficStats t;
  for (const auto& w : traffic()) t += w.traffic;
  return t;
}

void RemoteExecutor::replace_endpoint(std::size_t i, std::shared_ptr<transport::Endpoint> endpoint) {
  std::lock_guard lock(mu_);
  auto& s = slots_.at(i);
  s.retired += s.endpoint->stats();
  s.endpoint = std::move(endpoint);
}

}  // namespace veil::designs::plain
