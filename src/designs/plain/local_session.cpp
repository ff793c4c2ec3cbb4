#include "veil/designs/plain/local_session.h"

#include "veil/model/causal_lm.h"
#include "veil/model/linear_executor.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/util/check.h"

namespace veil::designs::plain {
namespace {

class LocalSession final : public train::DesignSession {
 public:
  explicit LocalSession(const train::FinetuneConfig& cfg) : loaded_(model::load_model(cfg.model)) {
    VEIL_CHECK_ARG(cfg.design_options.empty(), "design 'plain' takes no --opt (got '",
                   cfg.design_options.begin()->first, "')");
    lora_ = std::make_shared<model::LoraAdapters>(loaded_.model->config(), cfg.lora, cfg.seed);
    loaded_.model->set_lora(lora_);
  }
  model::CausalLM& model() override { return *loaded_.model; }
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }

  // Everything runs here: nothing on the wire, no enclave, every parameter held.
  DesignCost cost() const override {
    DesignCost c;
    c.bytes_up_per_token = 0;
    c.bytes_down_per_token = 0;
    c.round_trips_per_step = 0;
    c.owner_parameter_share = 1;
    c.enclave_parameter_share = 0;
    c.owner_flops_per_token = linear_flops_per_token(loaded_, 0, loaded_.model->config().num_layers);
    return c;
  }

 private:
  model::LoadedModel loaded_;
  std::shared_ptr<model::LoraAdapters> lora_;
};

}  // namespace

std::unique_ptr<train::DesignSession> open_local_session(const train::FinetuneConfig& cfg) {
  return std::make_unique<LocalSession>(cfg);
}

double linear_flops_per_token(const model::LoadedModel& m, int first, int last) {
  double n = 0;
  for (const auto& [site, w] : m.executor->weights())
    if (site.layer >= first && site.layer < last) n += static_cast<double>(w.numel());
  return 4 * n;
}

}  // namespace veil::designs::plain
