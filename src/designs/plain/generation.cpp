#include "designs/plain/generation.h"

#include <memory>

#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/util/check.h"

namespace veil::designs::plain {

GenerationModels open_generation(const GenerationRequest& request) {
  VEIL_CHECK_ARG(request.options.empty() && request.parties.workers.empty(),
                 "--opt and --workers need --design he-lora or obfuscatune");
  auto m = std::make_shared<model::LoadedModel>(model::load_model(request.model));
  GenerationModels out{m->model->config(), {}};
  for (const auto& dir : request.adapters) {
    std::shared_ptr<model::LoraAdapters> lora = dir.empty() ? nullptr : lora::load_peft_adapter(dir, out.config);
    out.generators.push_back([m, lora](std::span<const std::int64_t> p, const model::GenerationConfig& g,
                                       const std::function<bool(std::int64_t)>& cb) {
      m->model->set_lora(lora);  // one generation at a time (serve/queue.h)
      return model::generate(*m->model, p, g, cb);
    });
  }
  return out;
}

}  // namespace veil::designs::plain
