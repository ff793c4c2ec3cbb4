#include "veil/train/design.h"

#include "veil/designs/spec.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"

namespace veil::train {

std::vector<at::Tensor> DesignSession::trainable() { return adapters()->parameters(); }

StepStats DesignSession::step(Trainer& trainer, std::span<const MicroBatch> micro) { return trainer.step(micro); }

EvalStats DesignSession::evaluate(std::span<const MicroBatch> batches) { return evaluate_loss(model(), batches); }

void register_design(std::string name, std::string summary, DesignFactory factory) {
  designs::update_design_spec(name, [&](designs::DesignSpec& s) {
    s.summary = std::move(summary);
    s.open_session = std::move(factory);
  });
}

std::vector<DesignInfo> registered_designs() {
  std::vector<DesignInfo> out;
  for (const auto& s : designs::design_specs())
    if (s.open_session) out.push_back({s.name, s.summary});
  return out;
}

std::unique_ptr<DesignSession> open_design(const FinetuneConfig& cfg) {
  auto spec = designs::find_design_spec(cfg.design);
  if (!spec || !spec->open_session) {
    std::string names;
    for (const auto& d : registered_designs()) names += (names.empty() ? "" : ", ") + d.name;
    VEIL_CHECK_ARG(false, "--design '", cfg.design, "' is not available (available: ", names.empty() ? std::string("none registered: a program using libveil calls designs::register_builtin_designs() first") : names, ")");
  }
  return spec->open_session(cfg);
}

}  // namespace veil::train
