// How a privacy design plugs into the fine-tuning recipe (run_finetune) on the data owner's side.
//
// A design opens a session for one run: it builds the model the data owner trains (its executor
// may send projections to workers, its middle blocks may run on a server), connects to the other
// parties, and reports what the run cost. The recipe (data, optimizer, evaluation, checkpoints,
// resume, metrics, PEFT output) is the same for every design; a design overrides only what it
// changes. Sessions are opened through the design registry (veil/designs/spec.h: each design's
// DesignSpec::open_session); the built-in designs, `plain` included, are registered by
// designs::register_builtin_designs() (veil/designs/registry.h).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/designs/cost.h"
#include "veil/train/trainer.h"

namespace veil::model {
class CausalLM;
class LoraAdapters;
}  // namespace veil::model

namespace veil::train {

struct FinetuneConfig;

class DesignSession {
 public:
  virtual ~DesignSession() = default;

  // The model whose loss the recipe minimises and evaluates.
  [[nodiscard]] virtual model::CausalLM& model() = 0;
  // The adapters trained in this run, in the coordinates of the original (plaintext) model: these
  // are checkpointed, restored on resume and written as the PEFT adapter.
  [[nodiscard]] virtual std::shared_ptr<model::LoraAdapters> adapters() = 0;
  // Leaf tensors the optimizer updates. Default: the adapters' parameters.
  [[nodiscard]] virtual std::vector<at::Tensor> trainable();

  // One optimizer step over the micro-batches. Default: trainer.step(micro) (forward, backward
  // through the model, AdamW). Gradient-free designs override it.
  virtual StepStats step(Trainer& trainer, std::span<const MicroBatch> micro);
  // Validation loss. Default: evaluate_loss(model(), batches).
  virtual EvalStats evaluate(std::span<const MicroBatch> batches);

  // Called after the adapter was restored from a checkpoint (designs that keep a transformed copy
  // of the adapter refresh it here).
  virtual void adapters_restored() {}
  // Flushes pipelines and waits for the other parties; called before checkpoints and at the end.
  virtual void sync() {}
  // The design's own figures for summary.json under "design_report" (options, privacy
  // accounting, traffic per party, ...).
  [[nodiscard]] virtual nlohmann::json report() const { return nlohmann::json::object(); }
  // What the run cost so far, typed (summary.json "design_cost", the evaluation's cost). Default:
  // nothing known.
  [[nodiscard]] virtual designs::DesignCost cost() const { return {}; }
};

// Opens a session for cfg (cfg.design names the design). Throws std::invalid_argument for bad
// options (naming the option) and std::runtime_error when a party cannot be reached.
using DesignFactory = std::function<std::unique_ptr<DesignSession>(const FinetuneConfig& cfg)>;

// Sets the session half and summary of the DesignSpec `name` (veil/designs/spec.h), creating it
// when absent: a shorthand for designs that need nothing else.
void register_design(std::string name, std::string summary, DesignFactory factory);
// Opens cfg.design's session through its DesignSpec. Throws std::invalid_argument naming the
// available designs when cfg.design has no session half.
[[nodiscard]] std::unique_ptr<DesignSession> open_design(const FinetuneConfig& cfg);

struct DesignInfo {
  std::string name, summary;
};
// Designs that `--design` accepts in this process (specs with a session half), in registration
// order.
[[nodiscard]] std::vector<DesignInfo> registered_designs();

}  // namespace veil::train
