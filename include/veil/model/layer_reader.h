// Reading only part of a model: a party that serves a range of layers (a worker) reads those
// layers' projection weights tensor by tensor from the safetensors file(s), so its memory is its
// share of the weights, not the whole checkpoint (docs/checkpoint.md, "Loading a share").
#pragma once

#include <filesystem>
#include <memory>

#include <ATen/core/Tensor.h>

#include "veil/model/config.h"
#include "veil/model/linear_executor.h"
#include "veil/model/projection.h"

namespace veil::checkpoint {
class CheckpointReader;
}

namespace veil::model {

class ModelReader {
 public:
  // Opens a Hugging Face model directory: parses config.json and the safetensors headers (single
  // file or sharded index); no tensor is read yet. Throws std::invalid_argument for a path that is
  // not such a directory (a llama2.c .bin file included: use read_model), a bad config or a bad
  // header; std::runtime_error on I/O.
  explicit ModelReader(const std::filesystem::path& dir);
  ~ModelReader();
  ModelReader(ModelReader&&) noexcept;
  ModelReader& operator=(ModelReader&&) noexcept;

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  // One projection's weight as float32 [out, in], contiguous (GPT-2's Conv1D weights transposed),
  // read from disk now. `layer` == num_layers with Proj::kLmHead is the LM head (the embedding
  // when tied). Throws std::invalid_argument for a layer out of range, a missing, mis-shaped or
  // non-finite tensor (naming it).
  [[nodiscard]] at::Tensor linear(int layer, Proj p) const;
  // The projection weights of layers [first, last) (no LM head). Throws as linear(), and for a
  // range that is empty or outside the model.
  [[nodiscard]] LinearWeights linear_layers(int first, int last) const;
  // A tensor by its checkpoint name (a GPT-2 name without its "transformer." prefix is found too),
  // as float32. Throws std::invalid_argument when absent or non-finite.
  [[nodiscard]] at::Tensor tensor(const std::string& name) const;

 private:
  [[nodiscard]] std::string resolve(const std::string& name) const;

  ModelConfig config_;
  std::unique_ptr<checkpoint::CheckpointReader> reader_;
};

}  // namespace veil::model
