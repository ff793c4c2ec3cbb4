// Worker pools that `veil enclave` prepared for its fine-tunes, handed to the "obfuscatune" session
// that run_finetune opens inside the enclave. run_finetune opens designs by name and config only,
// so the enclave passes a run id in the reserved option `enclave_run`; the id names an entry of
// this process-local table (never anything another process can reach).
#pragma once

#include <functional>
#include <string>

#include "veil/model/config.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::obfuscatune {

using PoolOpener = std::function<transport::WorkerPool(const model::ModelConfig&)>;

inline constexpr const char* kEnclaveRunKey = "enclave_run";

// Adds `open` under a fresh random id and returns the id.
[[nodiscard]] std::string add_enclave_run(PoolOpener open);
void remove_enclave_run(const std::string& id);
// The opener of run `id`. Throws std::invalid_argument when there is no such run (the option was
// given outside `veil enclave`).
[[nodiscard]] PoolOpener enclave_run(const std::string& id);

}  // namespace veil::designs::obfuscatune
