#include "veil/designs/obfuscatune/enclave.h"

#include "designs/obfuscatune/matched.h"

#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {

ObfuscatuneEnclave::ObfuscatuneEnclave(model::ModelFiles files, ObfuscatuneOptions opts, transport::WorkerPool pool,
                                       std::shared_ptr<model::LoraAdapters> lora)
    : cfg_(files.config) {
  executor_ = std::make_shared<ObfuscatedExecutor>(cfg_, std::move(files.weights.linear), opts, std::move(pool));
  model_ = opts.variant == Variant::kMatched ? make_matched_model(cfg_, std::move(files.weights.params), executor_)
                                             : model::build_model(cfg_, std::move(files.weights.params), executor_);
  set_adapters(std::move(lora));
}

void ObfuscatuneEnclave::set_adapters(std::shared_ptr<model::LoraAdapters> lora) {
  lora_ = std::move(lora);
  model_->set_lora(lora_);
}

std::vector<std::int64_t> ObfuscatuneEnclave::generate(std::span<const std::int64_t> prompt,
                                                       const model::GenerationConfig& cfg) {
  return model::generate(*model_, prompt, cfg);
}

nlohmann::json ObfuscatuneEnclave::report() const {
  const auto share = enclave_parameter_share(cfg_);
  const auto& st = executor_->stats();
  const auto traffic = executor_->pool().stats();
  const double tokens = static_cast<double>(st.tokens_forward);
  nlohmann::json j = executor_->options().to_json();
  j["enclave_parameters"] = share.enclave;
  j["worker_parameters"] = share.worker;
  j["enclave_parameter_share"] = share.share();
  j["enclave_secret_bytes"] = st.secret_bytes;
  j["worker_weight_bytes"] = st.worker_weight_bytes;
  j["lora_parameters"] = lora_ ? lora_->num_parameters() : 0;
  j["worker_calls"] = traffic.calls;
  j["bytes_to_worker"] = traffic.bytes_sent;
  j["bytes_from_worker"] = traffic.bytes_received;
  j["tokens_forward"] = st.tokens_forward;
  // Activation traffic per token (forward and backward passes), weights loaded once excluded.
  const double activation_bytes =
      static_cast<double>(traffic.bytes_sent + traffic.bytes_received) - static_cast<double>(st.worker_weight_bytes);
  j["bytes_per_token"] = tokens > 0 ? activation_bytes / tokens : 0.0;
  j["freivalds_checks"] = st.freivalds_checks;
  return j;
}

DesignCost ObfuscatuneEnclave::cost() const {
  const auto& st = executor_->stats();
  const auto traffic = executor_->pool().stats();
  const double tokens = static_cast<double>(st.tokens_forward);
  DesignCost c;
  const double up = static_cast<double>(traffic.bytes_sent) - static_cast<double>(st.worker_weight_bytes);
  c.bytes_up_per_token = tokens > 0 ? up / tokens : 0.0;
  c.bytes_down_per_token = tokens > 0 ? static_cast<double>(traffic.bytes_received) / tokens : 0.0;
  c.enclave_parameter_share = enclave_parameter_share(cfg_).share();
  return c;
}

std::unique_ptr<ObfuscatuneEnclave> open_enclave(const std::filesystem::path& model,
                                                const std::map<std::string, std::string>& options,
                                                const train::PartyOptions& parties, const std::filesystem::path& adapter) {
  VEIL_CHECK_ARG(parties.enclave.empty(), "obfuscatune: --enclave is not used by an in-process enclave");
  auto opts = ObfuscatuneOptions::parse(options);
  auto files = model::read_model(model);
  const auto cfg = files.config;
  std::shared_ptr<model::LoraAdapters> lora;
  if (!adapter.empty()) lora = lora::load_peft_adapter(adapter, cfg);
  WorkerContext ctx;
  ctx.model = model;
  auto pool = open_workers("obfuscatune", parties, ctx, static_cast<int>(cfg.num_layers));
  return std::make_unique<ObfuscatuneEnclave>(std::move(files), opts, std::move(pool), std::move(lora));
}

}  // namespace veil::designs::obfuscatune
