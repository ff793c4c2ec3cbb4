// Registration of he-lora (see veil/designs/spec.h and docs/designs/he-lora.md).
#include "designs/builtin.h"
#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/session.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/designs/registry.h"
#include "veil/eval/observation.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/train/design.h"

namespace veil::designs {

void register_he_lora() {
  DesignSpec s;
  s.name = "he-lora";
  s.summary = "LoRA with every base-weight product on workers over encrypted activations (Frery et al. 2025)";
  s.open_session = [](const train::FinetuneConfig& cfg) -> std::unique_ptr<train::DesignSession> {
    return std::make_unique<he_lora::HeLoraSession>(cfg);
  };
  s.install_worker = [](transport::Service& service, const WorkerContext& ctx) {
    (void)he_lora::HeLoraOptions::parse(ctx.options);  // the same keys as the data owner's; rejects others
    auto files = std::make_shared<model::ModelFiles>(model::read_model(ctx.model));
    he_lora::install_worker(service, std::move(files), ctx.first_layer, ctx.last_layer);
  };
  // The workers receive ciphertexts, keys and parameters as blobs (opaque to the reader); any
  // plaintext tensor is read generically.
  s.observe = eval::read_tap_tensors;
  // Generation: every base-weight product encrypted on the workers, the KV cache here.
  s.open_generation = [](const GenerationRequest& r) {
    GenerationModels out;
    for (const auto& dir : r.adapters) {
      std::shared_ptr<he_lora::HeLoraSession> session = he_lora::open_for_generation(r.model, r.options, r.parties, dir);
      out.config = session->model().config();
      out.generators.push_back([session](std::span<const std::int64_t> p, const model::GenerationConfig& g,
                                         const std::function<bool(std::int64_t)>& cb) {
        return he_lora::generate(*session, p, g, cb);
      });
    }
    return out;
  };
  register_design_spec(std::move(s));
}

}  // namespace veil::designs
