// The LoRA fine-tuning recipe, end to end: load model, tokenizer and data; train with periodic
// evaluation and atomic checkpoints; write the PEFT adapter, a JSONL metrics log, a loss plot and
// a summary. `veil finetune` is a thin wrapper around run_finetune().
//
// Output directory:
//   adapter_config.json, adapter_model.safetensors   the final adapter (PEFT format)
//   metrics.jsonl                                    one line per step and per evaluation
//   loss.svg                                         training and validation loss curves
//   summary.json                                     final figures of the run
//   checkpoints/step-NNNNNN/, checkpoints/latest     resumable state (adapter, optimizer, data position)
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/designs/cost.h"
#include "veil/model/lora.h"
#include "veil/train/trainer.h"

namespace veil::train {

// Where the other parties of a design run and how to reach them.
struct PartyOptions {
  std::vector<std::string> workers;                  // host:port each, layers split in contiguous ranges
  std::string enclave;                               // host:port
  std::filesystem::path tls_cert, tls_key, tls_ca;   // this party's certificate and key; the CA of its peers
  bool insecure = false;                             // no TLS (loopback only)
  std::string tls_server_name;                       // name the peers' certificates carry; empty: the host
  // In-process workers (no `workers`) record what they received and sent here (a DirectoryTap,
  // veil/transport/audit_dir.h), as `veil worker --audit-dir` does; empty: no record.
  std::filesystem::path audit_dir;
};

struct FinetuneConfig {
  std::filesystem::path model;            // HF directory or llama2.c .bin
  std::filesystem::path tokenizer;        // empty: the model directory's tokenizer
  std::filesystem::path data;             // .jsonl or plain text
  std::filesystem::path val_data;         // empty: hold out val_fraction of the rows
  std::filesystem::path out;
  std::string design = "plain";
  std::map<std::string, std::string> design_options;  // --opt key=value; each design checks its own keys
  PartyOptions parties;
  model::LoraConfig lora;
  OptimConfig optim;                      // total_steps is derived from the data unless max_steps
  std::int64_t batch_size = 8;
  std::int64_t grad_accum = 1;
  std::int64_t seq_len = 256;
  std::int64_t epochs = 1;
  std::int64_t max_steps = 0;             // 0: epochs decide
  std::int64_t eval_every = 0;            // 0: only at the end
  std::int64_t save_every = 0;            // 0: only at the end
  std::int64_t max_examples = 0;
  double val_fraction = 0.05;
  std::optional<std::string> layout;      // "pack" | "pad" | default by data kind
  std::uint64_t seed = 0;
  bool resume = false;                    // continue from out/checkpoints/latest
  bool progress = true;
  void validate() const;                  // throws std::invalid_argument naming the flag
};

struct FinetuneResult {
  std::int64_t steps = 0;
  double first_loss = 0, final_loss = 0;
  std::optional<double> val_loss_before, val_loss_after;
  double tokens_per_second = 0;
  double seconds = 0;
  designs::DesignCost cost;  // the session's, also in summary.json as "design_cost"
  nlohmann::json summary;
};

// Throws std::invalid_argument for bad configuration or input files, std::runtime_error for I/O.
FinetuneResult run_finetune(const FinetuneConfig& cfg);

// Names of the designs that `--design` accepts in this process (see veil/train/design.h).
[[nodiscard]] std::vector<std::string> available_designs();

}  // namespace veil::train
