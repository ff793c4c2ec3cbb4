#include "veil/train/design.h"

#include <mutex>

#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"

namespace veil::train {

std::vector<at::Tensor> DesignSession::trainable() { return adapters()->parameters(); }

StepStats DesignSession::step(Trainer& trainer, std::span<const MicroBatch> micro) { return trainer.step(micro); }

EvalStats DesignSession::evaluate(std::span<const MicroBatch> batches) { return evaluate_loss(model(), batches); }

namespace {

struct Entry {
  DesignInfo info;
  DesignFactory factory;
};

class PlainSession final : public DesignSession {
 public:
  explicit PlainSession(const FinetuneConfig& cfg) : loaded_(model::load_model(cfg.model)) {
    VEIL_CHECK_ARG(cfg.design_options.empty(), "design 'plain' takes no --opt (got '",
                   cfg.design_options.begin()->first, "')");
    lora_ = std::make_shared<model::LoraAdapters>(loaded_.model->config(), cfg.lora, cfg.seed);
    loaded_.model->set_lora(lora_);
  }
  model::CausalLM& model() override { return *loaded_.model; }
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }

 private:
  model::LoadedModel loaded_;
  std::shared_ptr<model::LoraAdapters> lora_;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<Entry>& registry() {
  static std::vector<Entry> r{{{"plain", "no protection: everything runs locally (the baseline)"},
                               [](const FinetuneConfig& cfg) { return open_plain_session(cfg); }}};
  return r;
}

}  // namespace

std::unique_ptr<DesignSession> open_plain_session(const FinetuneConfig& cfg) {
  return std::make_unique<PlainSession>(cfg);
}

void register_design(std::string name, std::string summary, DesignFactory factory) {
  std::lock_guard lock(registry_mutex());
  for (auto& e : registry()) {
    if (e.info.name == name) {  // re-registration replaces (idempotent register_builtin_designs)
      e = {{std::move(name), std::move(summary)}, std::move(factory)};
      return;
    }
  }
  registry().push_back({{std::move(name), std::move(summary)}, std::move(factory)});
}

std::vector<DesignInfo> registered_designs() {
  std::lock_guard lock(registry_mutex());
  std::vector<DesignInfo> out;
  for (const auto& e : registry()) out.push_back(e.info);
  return out;
}

std::unique_ptr<DesignSession> open_design(const FinetuneConfig& cfg) {
  DesignFactory factory;
  {
    std::lock_guard lock(registry_mutex());
    for (const auto& e : registry())
      if (e.info.name == cfg.design) factory = e.factory;
  }
  if (!factory) {
    std::string names;
    for (const auto& d : registered_designs()) names += (names.empty() ? "" : ", ") + d.name;
    VEIL_CHECK_ARG(false, "--design '", cfg.design, "' is not available (available: ", names, ")");
  }
  return factory(cfg);
}

}  // namespace veil::train
