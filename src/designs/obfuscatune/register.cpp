// Registration of this design (see veil/designs/spec.h).
#include "designs/builtin.h"
#include "designs/obfuscatune/observe.h"
#include "designs/obfuscatune/session.h"
#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/obfuscatune/worker.h"
#include "veil/model/causal_lm.h"
#include "veil/designs/registry.h"

namespace veil::designs {

void register_obfuscatune() {
  DesignSpec s;
  s.name = "obfuscatune";
  s.summary =
      "ObfuscaTune: an enclave keeps embeddings, norms, attention and LM head and sends every block projection, on "
      "secretly transformed weights and activations, to an untrusted worker";
  s.open_session = [](const train::FinetuneConfig& cfg) { return obfuscatune::open_session(cfg); };
  s.install_worker = obfuscatune::install_worker;
  s.observe = obfuscatune::observe;
  // The worker holds obfuscated weights of the (possibly proprietary) model.
  s.evaluation.model_stealing_round = true;
  // Generation: the enclave (this process) over obfuscated projections on the workers.
  s.open_generation = [](const GenerationRequest& r) {
    GenerationModels out;
    for (const auto& dir : r.adapters) {
      std::shared_ptr<obfuscatune::ObfuscatuneEnclave> e = obfuscatune::open_enclave(r.model, r.options, r.parties, dir);
      out.config = e->model().config();
      out.generators.push_back([e](std::span<const std::int64_t> p, const model::GenerationConfig& g,
                                   const std::function<bool(std::int64_t)>& cb) {
        return model::generate(e->model(), p, g, cb);
      });
    }
    return out;
  };
  register_design_spec(std::move(s));
}

}  // namespace veil::designs
