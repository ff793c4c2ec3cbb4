// The evaluation matrix: each requested design fine-tuned on the same model and data with the
// same small budget, its utility, the attacks' success on what its untrusted party saw, and its
// cost, side by side. `veil evaluate` is a thin wrapper around run_evaluation().
//
// Output directory:
//   report.json, report.html     the matrix (see docs/evaluation.md for every field)
//   cells/<design>/              each design's fine-tuning run (summary.json, metrics.jsonl, ...)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veil::eval {

// Evaluation-only design names (not fine-tuning designs): the views of a split-learning server
// that receives the data owner's hidden states in the clear, with the same training as `plain`
// (registered as an evaluation-only DesignSpec by src/designs/plain/register.cpp).
inline constexpr const char* kUnprotectedSplit = "unprotected-split";

struct EvaluateConfig {
  std::filesystem::path model, data, out;
  std::vector<std::string> designs = {"plain", kUnprotectedSplit};
  // "design:key=value" items passed to that design as --opt key=value.
  std::vector<std::string> enhancements;
  std::filesystem::path public_text;  // public in-distribution text (learned inversion); empty: search
  std::filesystem::path secrets;      // secrets.jsonl; empty: search beside the data
  // Fine-tuning budget per cell.
  std::int64_t steps = 20, batch_size = 4, seq_len = 64, max_examples = 0;
  std::uint64_t seed = 0;
  // Attacks.
  std::vector<std::string> attacks = {"nn", "learned", "gradient", "bisr"};
  int cut_layer = 1;                    // the split: hidden states at the input of this block
  std::int64_t attack_records = 4;      // private records attacked per cell
  std::int64_t attack_tokens = 32;      // tokens per attacked record
  std::int64_t public_rows = 96;        // rows of public text for the learned inversion
  std::int64_t learned_steps = 300;
  std::int64_t gradient_steps = 300;
  bool progress = true;
  void validate() const;  // throws std::invalid_argument naming the flag
};

// Runs the matrix and writes report.json and report.html into cfg.out; returns the report.
// The cells are design specs registered in this process (veil/designs/spec.h; the CLI calls
// designs::register_builtin_designs() first): how each is viewed and costed comes from its
// EvaluationTraits and DesignCost, the attacks from the attack registry
// (veil/eval/attacks/registry.h). A design that is not available or fails is a cell with
// "status" and a message, not an error.
// Throws std::invalid_argument for bad configuration or input files.
nlohmann::json run_evaluation(const EvaluateConfig& cfg);

}  // namespace veil::eval
