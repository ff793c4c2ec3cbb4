#include "support/run_metrics.h"

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace veil::testing {

std::vector<double> train_losses(const std::filesystem::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
  }
  return losses;
}

}  // namespace veil::testing
