// Takes named tensors out of a checkpoint one by one, checking shape and finiteness, and reports
// whatever is left over as unexpected. Internal to the family importers.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "veil/model/family.h"
#include "veil/util/check.h"

namespace veil::model::detail {

class WeightReader {
 public:
  explicit WeightReader(TensorMap tensors) : tensors_(std::move(tensors)) {}

  // Removes and returns `name`, converted to contiguous float32, after checking its shape.
  at::Tensor take(const std::string& name, std::vector<std::int64_t> shape) {
    auto it = tensors_.find(name);
    VEIL_CHECK_ARG(it != tensors_.end(), "checkpoint is missing tensor '", name, "'");
    at::Tensor t = it->second;
    tensors_.erase(it);
    VEIL_CHECK_ARG(t.sizes().vec() == shape, "tensor '", name, "' has shape ", t.sizes(), ", expected ",
                   at::IntArrayRef(shape));
    t = t.to(at::kFloat).contiguous();
    VEIL_CHECK_ARG(all_finite(t), "tensor '", name, "' contains NaN or infinite values");
    return t;
  }
  // The LM head: the embedding when tied (a stored copy must then equal it), else lm_head.weight.
  at::Tensor take_lm_head(const ModelConfig& c, const at::Tensor& tok_emb) {
    if (!c.tie_word_embeddings) return take("lm_head.weight", {c.vocab_size, c.hidden_size});
    if (has("lm_head.weight")) {
      auto head = take("lm_head.weight", {c.vocab_size, c.hidden_size});
      VEIL_CHECK_ARG(at::equal(head, tok_emb),
                     "config.json says tie_word_embeddings but 'lm_head.weight' differs from the embedding");
    }
    return tok_emb;
  }
  [[nodiscard]] bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  void ignore(const std::string& name) { tensors_.erase(name); }
  // Throws naming the first unexpected tensor, if any is left.
  void finish() {
    if (tensors_.empty()) return;
    std::string names;
    int n = 0;
    for (const auto& [name, t] : tensors_) {
      if (n++ < 3) names += (names.empty() ? "'" : ", '") + name + "'";
    }
    throw std::invalid_argument(util::cat("checkpoint has ", tensors_.size(), " unexpected tensor(s): ", names,
                                          tensors_.size() > 3 ? ", ..." : ""));
  }
  TensorMap& remaining() { return tensors_; }

  // at::isfinite builds |t| and two masks at full size (1.5 GB of temporaries for Llama-3.2-1B's
  // embedding, which doubled the peak memory of loading a model); 4M elements at a time instead.
  static bool all_finite(const at::Tensor& t) {
    constexpr std::int64_t kChunk = std::int64_t{1} << 22;
    auto flat = t.reshape({-1});
    for (std::int64_t i = 0, n = flat.numel(); i < n; i += kChunk)
      if (!at::isfinite(flat.narrow(0, i, std::min(kChunk, n - i))).all().item<bool>()) return false;
    return true;
  }

 private:
  TensorMap tensors_;
};

}  // namespace veil::model::detail
