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
// gradient differences of near-zero elements into update differences of up to lr per step (its
// step is lr·m/√v whatever the gradient's size), so the largest single difference depends on the
// CPU's GEMM kernels: 1e-4 on an AMX machine, 3.6e-3 on an AVX-512 one without AMX, after 4 steps
// at lr 3e-3 (losses agree to 1e-5 on both). The whole adapter agrees to a relative L2 error of
// 3.1e-4 on the latter (the bound is 1e-3); a wrong product, a lost micro-batch or a skipped step
// moves it by far more.
inline constexpr double kAdapterRelativeTolerance = 1e-3;
// Largest absolute difference between the adapters written in two output directories.
[[nodiscard]] double adapter_max_diff(const std::filesystem::path& a, const std::filesystem::path& b);
// ‖a − b‖ / ‖b‖ over all adapter parameters of the two output directories.
[[nodiscard]] double adapter_relative_l2(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace veil::testing
