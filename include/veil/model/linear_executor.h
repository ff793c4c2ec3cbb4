// The linear executor: the one interface through which every linear projection of a model runs.
//
// The model calls linear() for each group of projections that share an input (q/k/v; gate/up;
// o; down; lm_head). The plain executor multiplies locally. Protected designs supply executors
// that run the product elsewhere: on obfuscated weights on an untrusted accelerator, on encrypted
// activations at a worker, or on another party's layers. The model adds biases and LoRA branches
// itself, so an executor computes only the products with the frozen base weights:
//
//     forward:   y_i = x · W_iᵀ              for each projection i of the group
//     backward:  dL/dx = Σ_i (dL/dy_i) · W_i  (the input gradient)
//
// Weight gradients exist only where a design trains a base weight (full fine-tuning in plain);
// executors that train nothing never compute them.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/model/projection.h"

namespace veil::model {

class LinearExecutor {
 public:
  virtual ~LinearExecutor() = default;

  // Differentiable products of x ([..., in]) with the weights of `projs` at `layer`. The default
  // implementation calls forward() and, when autograd needs dL/dx, backward(); executors whose
  // products are ordinary differentiable tensor ops (the plain one) override it directly.
  [[nodiscard]] virtual std::vector<at::Tensor> linear(int layer, std::span<const Proj> projs, const at::Tensor& x);

  // Called once per optimizer step boundary and at the end of a run (flush pipelines, counters).
  virtual void sync() {}

  // The weight of projection `site` when this executor computes it in this process, in plaintext,
  // from a frozen weight ([out, in], no gradient); undefined otherwise. The loss uses it to fuse
  // the LM head with the cross-entropy (train::causal_lm_loss), which only a party holding the head
  // in the clear may do: the plain executor, or an enclave that keeps the head.
  [[nodiscard]] virtual at::Tensor local_frozen_weight(const LinearSite& site) const { return {}; }

 protected:
  // y_i = x · W_iᵀ, without autograd.
  [[nodiscard]] virtual std::vector<at::Tensor> forward(int layer, std::span<const Proj> projs,
                                                        const at::Tensor& x) = 0;
  // Σ_i g_i · W_i, without autograd. Only called when x requires a gradient.
  [[nodiscard]] virtual at::Tensor backward(int layer, std::span<const Proj> projs,
                                            std::span<const at::Tensor> grad_outputs) = 0;

  friend struct ExecutorAutograd;
};

// Base weights of the linear projections, [out, in], keyed by site.
using LinearWeights = std::map<LinearSite, at::Tensor>;

// Computes locally with the weights it holds. Groups that share an input are fused into one GEMM.
// With train_base, the weights are leaf tensors that receive gradients (full fine-tuning).
class PlainExecutor final : public LinearExecutor {
 public:
  explicit PlainExecutor(LinearWeights weights, bool train_base = false);

  [[nodiscard]] std::vector<at::Tensor> linear(int layer, std::span<const Proj> projs, const at::Tensor& x) override;
  [[nodiscard]] at::Tensor local_frozen_weight(const LinearSite& site) const override;
  [[nodiscard]] const LinearWeights& weights() const { return weights_; }
  [[nodiscard]] LinearWeights& mutable_weights() { return weights_; }
  // Drops fused copies after weights were changed in place (e.g. by merging an adapter).
  void invalidate_fused();

 protected:
  std::vector<at::Tensor> forward(int layer, std::span<const Proj> projs, const at::Tensor& x) override;
  at::Tensor backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> grad_outputs) override;

 private:
  [[nodiscard]] const at::Tensor& weight(int layer, Proj p) const;
  [[nodiscard]] const at::Tensor& fused(int layer, std::span<const Proj> projs);

  LinearWeights weights_;
  bool train_base_;
  std::map<std::pair<int, Proj>, at::Tensor> fused_;  // keyed by (layer, first proj of the group)
};

}  // namespace veil::model
