// Helpers of the plain-design tests: a small fine-tuning run and comparisons of its outputs.
#pragma once

#include <filesystem>
#include <vector>

#include "support/run_metrics.h"
#include "veil/train/finetune.h"

namespace veil::testing {

// models/veil-austen-tiny on a slice of the clinic records: a few seconds per run.
[[nodiscard]] train::FinetuneConfig tiny_run(const std::filesystem::path& out);
// Remote and local runs compute the same products grouped differently; AdamW turns the last-bit
// gradient differences of near-zero elements into update differences of up to ~1e-4 after a few
// steps at lr 3e-3 (losses agree to 1e-5). Adapter entries are ~1e-2.
inline constexpr double kAdapterTolerance = 3e-4;
// Largest absolute difference between the adapters written in two output directories.
[[nodiscard]] double adapter_max_diff(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace veil::testing
