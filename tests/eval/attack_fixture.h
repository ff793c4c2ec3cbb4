// The embedded default model and a few private records, shared by the attack tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "veil/model/loader.h"
#include "veil/tokenizer/tokenizer.h"

namespace veil::eval::testing {

inline std::filesystem::path source_dir() { return VEIL_SOURCE_DIR; }
inline std::filesystem::path model_dir() { return source_dir() / "models/veil-austen-tiny"; }

// The first `n` lines' "text" of a JSONL file, tokenised and cut to `t` tokens each: [n, t].
inline at::Tensor token_rows(const tokenizer::Tokenizer& tok, const std::filesystem::path& file, int n, int t,
                             int skip = 0) {
  std::ifstream in(file);
  std::string line;
  std::vector<std::int64_t> ids;
  int rows = 0;
  for (int k = 0; rows < n && std::getline(in, line); ++k) {
    if (k < skip) continue;
    auto text = nlohmann::json::parse(line).at("text").get<std::string>();
    auto e = tok.encode(text, true);
    if (static_cast<int>(e.size()) < t) continue;
    ids.insert(ids.end(), e.begin(), e.begin() + t);
    ++rows;
  }
  return at::tensor(ids, at::kLong).reshape({rows, t});
}

// Labels as in training: the next token, -100 for the last position.
inline at::Tensor shifted_labels(const at::Tensor& ids) {
  return at::cat({ids.slice(1, 1), at::full({ids.size(0), 1}, -100, at::kLong)}, 1);
}

inline double accuracy(const at::Tensor& truth, const at::Tensor& guess) {
  return truth.eq(guess).to(at::kDouble).mean().item<double>();
}

}  // namespace veil::eval::testing
