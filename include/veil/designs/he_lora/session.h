// The data owner's session of he-lora (`veil finetune --design he-lora`): the model whose every
// product with a base weight runs on workers over encrypted activations, with the adapters, norms,
// attention core, loss and optimizer local. Also the entry point for encrypted generation.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include "veil/designs/he_lora/executor.h"
#include "veil/designs/he_lora/options.h"
#include "veil/model/generate.h"
#include "veil/model/loader.h"
#include "veil/train/design.h"
#include "veil/train/finetune.h"
#include "veil/transport/audit_tap.h"

namespace veil::designs::he_lora {

class HeLoraSession final : public train::DesignSession {
 public:
  // cfg.model, cfg.lora, cfg.seed, cfg.design_options and cfg.parties are used. Without
  // cfg.parties.workers the workers run in this process (workers=in-process:N, each a Service
  // with its own audit tap: in memory, or a DirectoryTap under cfg.parties.audit_dir — that folder
  // itself for one worker, worker-<i>/ inside it for several). Throws std::invalid_argument for
  // bad options.
  // `files`, when given, replaces reading cfg.model (benchmarks with random weights).
  explicit HeLoraSession(const train::FinetuneConfig& cfg, std::shared_ptr<model::ModelFiles> files = nullptr);
  ~HeLoraSession() override;

  model::CausalLM& model() override;
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }
  train::StepStats step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) override;
  train::EvalStats evaluate(std::span<const train::MicroBatch> batches) override;
  [[nodiscard]] nlohmann::json report() const override;
  [[nodiscard]] DesignCost cost() const override;

  // Replaces the adapters (e.g. a trained PEFT adapter loaded for generation); they stay with the
  // data owner like the session's own. Throws std::invalid_argument when `lora` is null.
  void set_adapters(std::shared_ptr<model::LoraAdapters> lora);

  [[nodiscard]] HeLoraExecutor& executor() { return *exec_; }
  [[nodiscard]] const HeLoraOptions& options() const { return opts_; }
  // The audit taps of in-process workers (empty with remote workers).
  [[nodiscard]] const std::vector<std::shared_ptr<transport::AuditTap>>& worker_taps() const { return taps_; }
  // Base-model parameters held by the data owner (norms, biases, and the embedding / LM head when
  // kept local) and by the workers.
  [[nodiscard]] std::int64_t owner_base_parameters() const { return owner_params_; }
  [[nodiscard]] std::int64_t total_base_parameters() const { return total_params_; }

 private:
  HeLoraOptions opts_;
  std::vector<std::shared_ptr<transport::AuditTap>> taps_;
  std::shared_ptr<HeLoraExecutor> exec_;
  std::unique_ptr<model::CausalLM> model_;
  std::shared_ptr<model::LoraAdapters> lora_;
  std::int64_t owner_params_ = 0, total_params_ = 0;
  // Whether a step's micro-batches run pipelined (options.h: pipeline=auto|on|off).
  [[nodiscard]] bool pipelined() const;

  std::int64_t tokens_ = 0;
  bool lora_dropout_ = false;
  bool remote_workers_ = false;
};

// A session for `veil generate --design he-lora`: the model at `model` (its linear weights go to the
// workers: in this process without parties.workers, else remote `veil worker --design he-lora`),
// `options` as for fine-tuning, and the PEFT adapter in `adapter` when not empty (kept by the data
// owner). Throws std::invalid_argument for bad options or an adapter that does not fit the model.
[[nodiscard]] std::unique_ptr<HeLoraSession> open_for_generation(const std::filesystem::path& model,
                                                                 const std::map<std::string, std::string>& options,
                                                                 const train::PartyOptions& parties,
                                                                 const std::filesystem::path& adapter = {});

// Greedy (or sampled) generation with every base-weight product encrypted; the KV cache stays in
// the data owner's process. Single-row decode steps use veil::he's row packing. `on_token` as in
// model::generate (called per new token; returning false stops).
[[nodiscard]] std::vector<std::int64_t> generate(HeLoraSession& session, std::span<const std::int64_t> prompt,
                                                 const model::GenerationConfig& cfg,
                                                 const std::function<bool(std::int64_t)>& on_token = {});

}  // namespace veil::designs::he_lora
