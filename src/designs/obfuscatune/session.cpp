// The data owner's session of obfuscatune in run_finetune(): the enclave object, its workers
// (in-process unless --workers are given) and the adapters it trains.
#include "designs/obfuscatune/session.h"

#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/registry.h"
#include "veil/model/causal_lm.h"
#include "veil/train/finetune.h"

namespace veil::designs::obfuscatune {
namespace {

class ObfuscatuneSession final : public train::DesignSession {
 public:
  explicit ObfuscatuneSession(const train::FinetuneConfig& cfg) {
    auto opts = ObfuscatuneOptions::parse(cfg.design_options);  // bad options fail before any work
    auto files = model::read_model(cfg.model);
    WorkerContext ctx;
    ctx.model = cfg.model;
    auto pool = open_workers("obfuscatune", cfg.parties, ctx, static_cast<int>(files.config.num_layers));
    auto lora = std::make_shared<model::LoraAdapters>(files.config, cfg.lora, cfg.seed);
    enclave_ = std::make_unique<ObfuscatuneEnclave>(std::move(files), opts, std::move(pool), lora);
  }

  model::CausalLM& model() override { return enclave_->model(); }
  std::shared_ptr<model::LoraAdapters> adapters() override { return enclave_->adapters(); }
  nlohmann::json report() const override { return enclave_->report(); }

 private:
  std::unique_ptr<ObfuscatuneEnclave> enclave_;
};

}  // namespace

std::unique_ptr<train::DesignSession> open_session(const train::FinetuneConfig& cfg) {
  return std::make_unique<ObfuscatuneSession>(cfg);
}

}  // namespace veil::designs::obfuscatune
