// The workers of a run, each owning a contiguous range of layers; designs route a layer's calls to
// the worker that owns it.
#pragma once

#include <memory>
#include <vector>

#include "veil/transport/endpoint.h"

namespace veil::transport {

class WorkerPool {
 public:
  struct Worker {
    std::shared_ptr<Endpoint> endpoint;
    int first_layer = 0, last_layer = 0;  // [first_layer, last_layer)
  };
  WorkerPool() = default;
  // Throws std::invalid_argument when ranges overlap or are empty.
  explicit WorkerPool(std::vector<Worker> workers);

  // The worker owning `layer`; throws std::invalid_argument when none does.
  [[nodiscard]] Endpoint& for_layer(int layer) const;
  [[nodiscard]] std::size_t index_for_layer(int layer) const;
  [[nodiscard]] const std::vector<Worker>& workers() const { return workers_; }
  [[nodiscard]] std::size_t size() const { return workers_.size(); }
  // Throws std::invalid_argument naming the first layer in [0, num_layers) no worker owns.
  void check_covers(int num_layers) const;
  // Traffic summed over the workers.
  [[nodiscard]] TrafficStats stats() const;

 private:
  std::vector<Worker> workers_;
};

}  // namespace veil::transport
