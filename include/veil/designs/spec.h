// A privacy design as one registered value: everything the rest of Veil asks of a design.
//
// A design lives in src/designs/<name>/ and registers one DesignSpec (its register.cpp, called by
// designs::register_builtin_designs(), veil/designs/registry.h; a test may register its own).
// Code outside the design's folder iterates or looks up this registry; it never compares names:
//   - `veil finetune --design NAME` / train::run_finetune open_session (the data owner's half);
//   - `veil worker --design NAME` calls install_worker (the untrusted party's half);
//   - `veil generate` / `veil serve --design NAME` call open_generation (generation.h);
//   - `veil evaluate` reads the untrusted party's audit tap through observe and follows the
//     evaluation traits; every session reports a DesignCost (veil/designs/cost.h).
// The registry itself is the small module veil_design_spec, below train, eval and the designs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "veil/designs/cost.h"
#include "veil/designs/generation.h"
#include "veil/designs/observation.h"
#include "veil/transport/audit_tap.h"

namespace veil::train {
class DesignSession;
struct FinetuneConfig;
}  // namespace veil::train
namespace veil::transport {
class Service;
}
namespace veil::model {
struct LoadedModel;
}

namespace veil::designs {

// What a worker process was started with (`veil worker --model DIR --layers A:B --design NAME`).
struct WorkerContext {
  std::filesystem::path model;                  // base weights, where the design publishes them
  int first_layer = 0;                          // layers [first_layer, last_layer) are this worker's
  int last_layer = -1;                          // -1: to the last layer
  std::map<std::string, std::string> options;   // --opt key=value
};

// One `--opt key=value` a design accepts, for `--help` and docs.
struct OptionDoc {
  std::string key, meaning, default_value;
};

// How `veil evaluate` runs and reads a cell of this design (docs/evaluation.md).
struct EvaluationTraits {
  enum class View {
    kAuditTap,        // one real step with the untrusted party's audit tap on, read by observe
    kSimulatedSplit,  // no untrusted party in the run: a split server's view at a cut is simulated
  };
  View view = View::kAuditTap;
  // The unprotected baseline the matrix's "delta_val_loss_vs_plain" is measured against.
  bool baseline = false;
  // The design whose session trains this cell; empty: this one (an evaluation-only spec names
  // the design it evaluates another view of).
  std::string trains_as;
  // kSimulatedSplit: the block whose input the party receives; -1: the evaluation's --cut-layer.
  int simulated_cut = -1;
  // kSimulatedSplit: the report's "view" text for the cut used.
  std::function<std::string(int cut)> describe_view;
  // kAuditTap: appended to the view when the party received nothing during tuning.
  std::string quiet_view_note;
  // The party holds obfuscated weights of a model: the model-confidentiality (model-stealing)
  // round applies to it.
  bool model_stealing_round = false;
  // The cost of the view when it is not the training session's (an evaluation-only view): from
  // the base model and the cut used. Empty: the session's DesignCost.
  std::function<DesignCost(const model::LoadedModel& base, int cut)> view_cost;
};

using SessionFactory = std::function<std::unique_ptr<train::DesignSession>(const train::FinetuneConfig& cfg)>;
using WorkerInstaller = std::function<void(transport::Service& service, const WorkerContext& ctx)>;
// Reads the audit tap of the design's untrusted party (`entries`: that party's messages, in order;
// `hidden`: the model's hidden size) into the tensors it saw in the clear or under a transform.
// The caller fills design, party, byte counts and opaque blobs.
using Observer = std::function<Observation(const std::vector<transport::TapEntry>& entries, std::int64_t hidden)>;

struct DesignSpec {
  std::string name, summary;
  std::vector<OptionDoc> options;
  SessionFactory open_session;     // empty: an evaluation-only view (not a --design)
  WorkerInstaller install_worker;  // empty: nothing runs on a worker
  Observer observe;                // empty: eval's generic reader of plaintext tensors
  GenerationOpener open_generation;  // `veil generate` / `veil serve --design`; empty: not offered
  EvaluationTraits evaluation;
};

// Registers `spec`, replacing one of the same name (registration is idempotent). Throws
// std::invalid_argument for an empty name.
void register_design_spec(DesignSpec spec);
// The spec named `name`. Throws std::invalid_argument naming the registered designs.
[[nodiscard]] DesignSpec design_spec(const std::string& name);
// The spec named `name`, or nothing.
[[nodiscard]] std::optional<DesignSpec> find_design_spec(const std::string& name);
// Every registered spec, in registration order.
[[nodiscard]] std::vector<DesignSpec> design_specs();
// Changes one field of the spec named `name`, creating it when absent (the compatibility
// registration functions train::register_design and designs::register_worker use it).
void update_design_spec(const std::string& name, const std::function<void(DesignSpec&)>& edit);

}  // namespace veil::designs
