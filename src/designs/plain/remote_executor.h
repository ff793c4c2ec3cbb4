// The data owner's executor for the `plain` design on workers: each projection group of a block
// goes to the worker owning that layer ("plain.forward"; backward "plain.backward" returns the
// input gradient); the LM head, which the worker never holds, is multiplied locally.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/model/linear_executor.h"
#include "veil/transport/endpoint.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::plain {

class RemoteExecutor final : public model::LinearExecutor {
 public:
  // `lm_head` [vocab, hidden] is the data owner's; `workers` cover layers [0, num_layers).
  RemoteExecutor(const transport::WorkerPool& workers, int num_layers, at::Tensor lm_head);

  [[nodiscard]] std::vector<at::Tensor> linear(int layer, std::span<const model::Proj> projs,
                                               const at::Tensor& x) override;

  // A worker that stopped answering (kUnavailable or kDeadlineExceeded) since the last
  // clear_outage(): its index. Calls that fail this way are recorded here and rethrown.
  [[nodiscard]] std::optional<std::size_t> outage() const;
  void clear_outage();

  struct WorkerTraffic {
    std::string peer;
    int first_layer = 0, last_layer = 0;
    transport::TrafficStats traffic;  // as the data owner sees it: sent to / received from the worker
  };
  [[nodiscard]] std::vector<WorkerTraffic> traffic() const;
  [[nodiscard]] transport::TrafficStats total_traffic() const;
  [[nodiscard]] std::size_t num_workers() const { return slots_.size(); }
  [[nodiscard]] WorkerTraffic worker(std::size_t i) const;
  // Swaps worker i's endpoint for a new connection to it (or its replacement) after an outage;
  // the old endpoint's traffic stays counted. Not to be called while a step runs.
  void replace_endpoint(std::size_t i, std::shared_ptr<transport::Endpoint> endpoint);

 protected:
  std::vector<at::Tensor> forward(int layer, std::span<const model::Proj> projs, const at::Tensor& x) override;
  at::Tensor backward(int layer, std::span<const model::Proj> projs, std::span<const at::Tensor> grads) override;

 private:
  struct Slot {
    std::shared_ptr<transport::Endpoint> endpoint;
    int first_layer = 0, last_layer = 0;
    transport::TrafficStats retired;  // traffic of replaced endpoints
  };
  [[nodiscard]] transport::Message call(int layer, transport::Message request);

  int num_layers_;
  at::Tensor lm_head_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::optional<std::size_t> outage_;
};

}  // namespace veil::designs::plain
