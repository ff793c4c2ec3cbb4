// The privacy designs built into Veil, the one place that lists them, and the worker side of the
// design registry.
//
// Each design is one DesignSpec (veil/designs/spec.h) with two halves:
//   - the data owner's (or enclave's) session, so that `veil finetune --design NAME` and
//     run_finetune() find it;
//   - the handlers an untrusted party installs on its Service (`veil worker --design NAME`).
// A design lives in src/designs/<name>/ and exposes one register_<name>() function, called by
// register_builtin_designs().
#pragma once

#include <string>
#include <vector>

#include "veil/designs/spec.h"
#include "veil/train/finetune.h"
#include "veil/transport/worker_pool.h"

namespace veil::transport {
class Service;
}

namespace veil::designs {

// Sets the worker half of the DesignSpec `design` (veil/designs/spec.h), creating it when absent.
// `veil worker --design NAME` calls install_worker(), which also installs "worker.info" (reply:
// ints {first_layer, last_layer}, meta "design") on every worker.
void register_worker(std::string design, WorkerInstaller installer);
// Installs `design`'s handlers on `service`. Throws std::invalid_argument for an unknown design
// or bad options.
void install_worker(const std::string& design, transport::Service& service, const WorkerContext& ctx);
[[nodiscard]] std::vector<std::string> worker_designs();

// The workers of a run for `design`. With parties.workers empty: one in-process worker (a Service
// with the design's handlers, over all layers) — the single-machine mode tests use. Otherwise a
// connection to each address (TLS per parties), asking each worker its layer range ("worker.info").
// Throws std::invalid_argument when the ranges do not cover [0, num_layers) exactly once, or a
// worker serves another design.
[[nodiscard]] transport::WorkerPool open_workers(const std::string& design, const train::PartyOptions& parties,
                                                 const WorkerContext& ctx, int num_layers);

// Registers every built-in design (both halves). Idempotent; the CLI and tests call it first.
void register_builtin_designs();

}  // namespace veil::designs
