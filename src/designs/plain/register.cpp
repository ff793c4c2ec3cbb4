// Registration of this design (see veil/designs/spec.h): `plain` runs locally unless it is given
// workers, then its block projections run on them (session.h, worker.h). Also the evaluation-only
// view `unprotected-split`: plain's training, seen by a classic split-learning server at a cut.
#include "designs/builtin.h"
#include "designs/plain/generation.h"
#include "designs/plain/session.h"
#include "designs/plain/worker.h"
#include "veil/designs/plain/local_session.h"
#include "veil/designs/registry.h"
#include "veil/eval/evaluate.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"

namespace veil::designs {

void register_plain_remote() {
  DesignSpec plain;
  plain.name = "plain";
  plain.summary =
      "no protection: everything runs locally (the baseline); with --workers the layers' projections run on "
      "workers that see activations in the clear";
  plain.options = {{"workers", "'in-process': in-process workers instead of --workers (tests, single machine)", ""},
                   {"shards", "with workers=in-process: N workers with contiguous layer ranges", "1"},
                   {"pipeline", "on|off: run a step's micro-batches concurrently", "on"},
                   {"in_flight", "micro-batches in flight at once", "max(2, workers)"},
                   {"worker_wait_s", "seconds to wait for an unavailable worker before failing", "300"}};
  plain.open_session = plain::open_session;
  plain.install_worker = plain::install_worker;
  plain.open_generation = plain::open_generation;
  // Run locally, plain has no untrusted party: the evaluation simulates a remote worker's view.
  plain.evaluation.view = EvaluationTraits::View::kSimulatedSplit;
  plain.evaluation.baseline = true;
  plain.evaluation.simulated_cut = 0;
  plain.evaluation.describe_view = [](int) {
    return std::string(
        "simulated: plain on a remote worker receives the inputs of block 0 in the clear (no untrusted party "
        "when plain runs locally)");
  };
  register_design_spec(std::move(plain));

  DesignSpec split_view;
  split_view.name = eval::kUnprotectedSplit;
  split_view.summary = "evaluation only: plain's training seen by a classic split-learning server at --cut-layer";
  split_view.evaluation.trains_as = "plain";
  split_view.evaluation.view = EvaluationTraits::View::kSimulatedSplit;
  split_view.evaluation.describe_view = [](int cut) {
    return "simulated: a split-learning server receives the hidden states at the input of block " +
           std::to_string(cut) + " and computes their loss gradient";
  };
  // The data owner computes the blocks below the cut and exchanges float32 states and gradients.
  split_view.evaluation.view_cost = [](const model::LoadedModel& base, int cut) {
    DesignCost c;
    const double row = static_cast<double>(base.model->config().hidden_size) * 4;
    c.bytes_up_per_token = row;
    c.bytes_down_per_token = row;
    c.enclave_parameter_share = 0;
    c.owner_flops_per_token = plain::linear_flops_per_token(base, 0, cut);
    return c;
  };
  register_design_spec(std::move(split_view));
}

}  // namespace veil::designs
