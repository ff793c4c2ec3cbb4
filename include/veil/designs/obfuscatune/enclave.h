// The trusted side of obfuscatune, as one object: everything that must stay secret lives here and
// talks to the untrusted accelerator only through a WorkerPool. It holds
//   - the embeddings, norms, biases, attention core (softmax, RoPE, KV cache) and LM head, in a
//     CausalLM built around an ObfuscatedExecutor;
//   - the secret transforms and Freivalds vectors (inside the executor);
//   - the LoRA adapters, in the plaintext model's coordinates (exportable to PEFT as they are).
// `veil enclave` (enclave_service.h) and the in-process session construct exactly this object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/designs/cost.h"
#include "veil/designs/obfuscatune/executor.h"
#include "veil/designs/obfuscatune/options.h"
#include "veil/model/generate.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/train/finetune.h"

namespace veil::designs::obfuscatune {

class ObfuscatuneEnclave {
 public:
  // Obfuscates `files`' linear weights and ships them to `pool`. `lora` may be null (no adapters).
  ObfuscatuneEnclave(model::ModelFiles files, ObfuscatuneOptions opts, transport::WorkerPool pool,
                     std::shared_ptr<model::LoraAdapters> lora);

  [[nodiscard]] model::CausalLM& model() { return *model_; }
  [[nodiscard]] std::shared_ptr<model::LoraAdapters> adapters() const { return lora_; }
  void set_adapters(std::shared_ptr<model::LoraAdapters> lora);
  [[nodiscard]] const ObfuscatedExecutor& executor() const { return *executor_; }

  // Greedy or sampled generation with a KV cache, the projections on the worker.
  [[nodiscard]] std::vector<std::int64_t> generate(std::span<const std::int64_t> prompt,
                                                   const model::GenerationConfig& cfg);

  // Parameter shares, secret and worker memory, traffic per token, Freivalds checks.
  [[nodiscard]] nlohmann::json report() const;
  // The run's typed cost (activation traffic per token, weights loaded once excluded).
  [[nodiscard]] DesignCost cost() const;

 private:
  model::ModelConfig cfg_;
  std::shared_ptr<ObfuscatedExecutor> executor_;
  std::unique_ptr<model::CausalLM> model_;
  std::shared_ptr<model::LoraAdapters> lora_;
};

// An enclave in this process (`veil generate --design obfuscatune`): `model` (HF directory or
// llama2.c file) obfuscated with `options` (--opt), the workers per `parties` (no workers: one
// in-process worker, recording into parties.audit_dir when given), the PEFT adapter in `adapter`
// when not empty. Throws std::invalid_argument for bad options, and for parties.enclave (an
// enclave elsewhere is reached with generate_in_enclave, enclave_client.h).
[[nodiscard]] std::unique_ptr<ObfuscatuneEnclave> open_enclave(const std::filesystem::path& model,
                                                               const std::map<std::string, std::string>& options,
                                                               const train::PartyOptions& parties,
                                                               const std::filesystem::path& adapter = {});

}  // namespace veil::designs::obfuscatune
