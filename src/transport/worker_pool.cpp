#include "veil/transport/worker_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace veil::transport {

WorkerPool::WorkerPool(std::vector<Worker> workers) : workers_(std::move(workers)) {
  std::sort(workers_.begin(), workers_.end(), [](const auto& a, const auto& b) { return a.first_layer < b.first_layer; });
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const auto& w = workers_[i];
    if (!w.endpoint) throw std::invalid_argument("worker pool: worker " + std::to_string(i) + " has no endpoint");
    if (w.first_layer < 0 || w.last_layer <= w.first_layer)
      throw std::invalid_argument("worker " + w.endpoint->peer() + " has an empty layer range " +
                                  std::to_string(w.first_layer) + ":" + std::to_string(w.last_layer));
    if (i > 0 && w.first_layer < workers_[i - 1].last_layer)
      throw std::invalid_argument("workers " + workers_[i - 1].endpoint->peer() + " and " + w.endpoint->peer() +
                                  " both own layer " + std::to_string(w.first_layer));
  }
}

std::size_t WorkerPool::index_for_layer(int layer) const {
  for (std::size_t i = 0; i < workers_.size(); ++i)
    if (layer >= workers_[i].first_layer && layer < workers_[i].last_layer) return i;
  throw std::invalid_argument("no worker owns layer " + std::to_string(layer));
}

Endpoint& WorkerPool::for_layer(int layer) const { return *workers_[index_for_layer(layer)].endpoint; }

void WorkerPool::check_covers(int num_layers) const {
  for (int l = 0; l < num_layers; ++l) (void)index_for_layer(l);
}

TrafficStats WorkerPool::stats() const {
  TrafficStats s;
  for (const auto& w : workers_) s += w.endpoint->stats();
  return s;
}

}  // namespace veil::transport
