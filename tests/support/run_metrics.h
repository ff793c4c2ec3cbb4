// Reading what a fine-tuning run wrote into its output directory.
#pragma once

#include <filesystem>
#include <vector>

namespace veil::testing {

// The training losses of <out>/metrics.jsonl, by step.
[[nodiscard]] std::vector<double> train_losses(const std::filesystem::path& out);

}  // namespace veil::testing
