// The data owner's session of obfuscatune in run_finetune(): the enclave object, its workers
// (in-process unless --workers are given) and the adapters it trains. Inside `veil enclave` the
// same session runs on the sealed model against the workers the enclave party chose (the reserved
// option `enclave_run`, enclave_runs.h).
#include "designs/obfuscatune/session.h"

#include "designs/obfuscatune/enclave_runs.h"
#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/registry.h"
#include "veil/model/causal_lm.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

class ObfuscatuneSession final : public train::DesignSession {
 public:
  explicit ObfuscatuneSession(const train::FinetuneConfig& cfg) {
    // The data owner's run through an enclave holds no model and never reaches run_finetune
    // (finetune_through_enclave, enclave_client.h); here an --enclave would be silently unused.
    VEIL_CHECK_ARG(cfg.parties.enclave.empty(), "obfuscatune: --enclave is not used by an in-process run; `veil "
                   "finetune --design obfuscatune --enclave HOST:PORT` sends the data to that enclave instead "
                   "(library: designs::obfuscatune::finetune_through_enclave)");
    auto options = cfg.design_options;
    PoolOpener open_pool;
    if (const auto it = options.find(kEnclaveRunKey); it != options.end()) {
      open_pool = enclave_run(it->second);
      options.erase(it);
    }
    auto opts = ObfuscatuneOptions::parse(options);  // bad options fail before any work
    auto files = model::read_model(cfg.model);
    transport::WorkerPool pool;
    if (open_pool) {
      VEIL_CHECK_ARG(cfg.parties.workers.empty() && cfg.parties.audit_dir.empty(),
                     "obfuscatune: inside `veil enclave` the enclave party chooses the workers");
      pool = open_pool(files.config);
    } else {
      WorkerContext ctx;
      ctx.model = cfg.model;
      pool = open_workers("obfuscatune", cfg.parties, ctx, static_cast<int>(files.config.num_layers));
    }
    auto lora = std::make_shared<model::LoraAdapters>(files.config, cfg.lora, cfg.seed);
    enclave_ = std::make_unique<ObfuscatuneEnclave>(std::move(files), opts, std::move(pool), lora);
  }

  model::CausalLM& model() override { return enclave_->model(); }
  std::shared_ptr<model::LoraAdapters> adapters() override { return enclave_->adapters(); }
  nlohmann::json report() const override { return enclave_->report(); }
  DesignCost cost() const override { return enclave_->cost(); }

 private:
  std::unique_ptr<ObfuscatuneEnclave> enclave_;
};

}  // namespace

std::unique_ptr<train::DesignSession> open_session(const train::FinetuneConfig& cfg) {
  return std::make_unique<ObfuscatuneSession>(cfg);
}

}  // namespace veil::designs::obfuscatune
