// Registration of he-lora's halves (see veil/designs/registry.h and docs/designs/he-lora.md).
#include "designs/builtin.h"
#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/session.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/designs/registry.h"
#include "veil/model/loader.h"
#include "veil/train/design.h"

namespace veil::designs {

void register_he_lora() {
  train::register_design(
      "he-lora", "LoRA with every base-weight product on workers over encrypted activations (Frery et al. 2025)",
      [](const train::FinetuneConfig& cfg) -> std::unique_ptr<train::DesignSession> {
        return std::make_unique<he_lora::HeLoraSession>(cfg);
      });
  register_worker("he-lora", [](transport::Service& service, const WorkerContext& ctx) {
    (void)he_lora::HeLoraOptions::parse(ctx.options);  // the same keys as the data owner's; rejects others
    auto files = std::make_shared<model::ModelFiles>(model::read_model(ctx.model));
    he_lora::install_worker(service, std::move(files), ctx.first_layer, ctx.last_layer);
  });
}

}  // namespace veil::designs
