// The attack round of an evaluation cell: one real optimizer step of a
// design on a batch whose token ids the harness knows, with the design's untrusted party (its
// in-process worker or server) recording an audit tap on disk, read back afterwards. What the
// attacks then score is exactly what that party received.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/eval/observation.h"
#include "veil/train/finetune.h"

namespace veil::eval {

struct AttackRound {
  Observation observation;          // read from the audit tap (not simulated)
  nlohmann::json design_report;     // the session's report after the step
  std::size_t messages = 0;         // entries of the audit tap
  bool adapter_restored = false;    // the cell's trained adapter was loaded before the step
  std::string adapter_note;         // why not, when it was not
  double seconds = 0;
};

// Opens fc.design's session (fc.parties.audit_dir = audit_dir, emptied first; no remote workers),
// loads the trained adapter of `adapter_dir` when it fits (else the step starts from fresh
// adapters, noted), and runs ONE optimizer step on exactly `rows` ([N, T+1] token ids: inputs
// rows[:, :T], labels rows[:, 1:]; no validation, no other batch), then closes the session and
// reads the tap back. `hidden` is the model's hidden size.
// Throws what the design throws (std::invalid_argument for bad options).
[[nodiscard]] AttackRound run_attack_round(train::FinetuneConfig fc, const at::Tensor& rows,
                                           const std::filesystem::path& audit_dir,
                                           const std::filesystem::path& adapter_dir, std::int64_t hidden);

}  // namespace veil::eval
