// Shared helpers of the obfuscatune tests: in-process workers (honest, tapped or corrupting),
// plain twins of an enclave model, and seeded adapters.
#pragma once

#include <filesystem>
#include <memory>

#include "veil/designs/obfuscatune/enclave.h"
#include "veil/transport/audit_tap.h"
#include "veil/transport/service.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::obfuscatune::testing {

struct LocalWorker {
  std::shared_ptr<transport::Service> service;  // what the worker runs (and taps)
  transport::WorkerPool pool;
};
// An honest in-process worker for `layers` layers, with an audit tap.
[[nodiscard]] LocalWorker honest_worker(int layers);
// A worker that adds `delta` to element [0, 0] of its `op` replies ("obfuscatune.forward" or
// "obfuscatune.backward"), otherwise honest.
[[nodiscard]] LocalWorker corrupt_worker(int layers, const std::string& op, float delta);

// LoRA adapters on every projection with a seeded non-zero B (every gradient path is used).
[[nodiscard]] std::shared_ptr<model::LoraAdapters> seeded_lora(const model::ModelConfig& cfg);
// A deep copy.
[[nodiscard]] std::shared_ptr<model::LoraAdapters> clone(const model::LoraAdapters& a, const model::ModelConfig& cfg);

[[nodiscard]] std::filesystem::path fixture(const std::string& name);

}  // namespace veil::designs::obfuscatune::testing
