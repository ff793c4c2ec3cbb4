// The worker half of the `plain` design: an untrusted compute node that holds the frozen base
// weights of a contiguous range of layers and runs their linear projections, forward and backward.
// It never sees tokens, labels, embeddings, the LM head or the adapters: only the activations that
// enter a projection and the gradients that leave it.
//
// Operations (see veil/transport/message.h):
//   "plain.forward"   layer, ints = projection ids (one input-sharing group), tensor "x" [..., in]
//                     → tensors "y0".."y{n-1}", y_i = x · W_iᵀ
//   "plain.backward"  layer, ints = projection ids, tensors "g0".."g{n-1}" (dL/dy_i)
//                     → tensor "dx" = Σ_i g_i · W_i
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/designs/registry.h"
#include "veil/model/config.h"
#include "veil/model/linear_executor.h"

namespace veil::designs::plain {

inline constexpr const char* kForwardOp = "plain.forward";
inline constexpr const char* kBackwardOp = "plain.backward";

// The base weights of layers [first, last), each input-sharing group stored once as one matrix
// (the per-projection weights are row ranges of it). Immutable after construction, so requests
// from several callers may run at once.
class LayerWeights {
 public:
  // Keeps only the sites of `all` in [first, last). Throws std::invalid_argument when a block
  // projection of a layer in the range is missing.
  LayerWeights(const model::ModelConfig& cfg, const model::LinearWeights& all, int first, int last);
  // Reads each projection of [first, last) from `source` (e.g. model::ModelReader::linear), one
  // input-sharing group at a time, so only one group's parts are held besides the result.
  using Source = std::function<at::Tensor(int layer, model::Proj p)>;
  LayerWeights(const model::ModelConfig& cfg, const Source& source, int first, int last);

  // y_i = x · W_iᵀ. Throws transport::ProtocolError for a layer outside the range, an unknown
  // projection or a mis-shaped x.
  [[nodiscard]] std::vector<at::Tensor> forward(int layer, std::span<const model::Proj> projs,
                                                const at::Tensor& x) const;
  // Σ_i g_i · W_i.
  [[nodiscard]] at::Tensor backward(int layer, std::span<const model::Proj> projs,
                                    std::span<const at::Tensor> grads) const;

  [[nodiscard]] int first_layer() const { return first_; }
  [[nodiscard]] int last_layer() const { return last_; }
  [[nodiscard]] std::int64_t bytes() const;

 private:
  struct Group {
    std::vector<model::Proj> projs;
    std::vector<std::int64_t> rows;  // output rows of each projection
    at::Tensor weight;               // [Σ rows, in]
  };
  [[nodiscard]] const Group* find(int layer, std::span<const model::Proj> projs) const;
  [[nodiscard]] at::Tensor single(int layer, model::Proj p) const;  // one projection's rows

  int first_, last_;
  std::map<int, std::vector<Group>> groups_;  // by layer
};

// Installs "plain.forward" and "plain.backward" serving `weights` (benchmarks build them from
// random weights; workers from their model files, below).
void install_handlers(transport::Service& service, std::shared_ptr<const LayerWeights> weights);

// Installs "plain.forward" and "plain.backward" for ctx's layer range: reads the model at
// ctx.model and keeps only those layers' projection weights. From a model directory only those
// tensors are read, one at a time (model::ModelReader), so the worker's memory is its share of the
// weights; a llama2.c file is read whole and sliced. Throws std::invalid_argument for
// an unknown --opt key or a bad range.
void install_worker(transport::Service& service, const WorkerContext& ctx);

}  // namespace veil::designs::plain
