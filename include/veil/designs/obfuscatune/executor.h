// The enclave's linear executor for obfuscatune: every projection of the transformer blocks runs
// on a worker (an untrusted accelerator) on obfuscated weights and activations; the LM head stays
// in the enclave in plaintext. For a projection y = x·Wᵀ with input transform R_in (one per layer
// and input-sharing group) and output transform R_out (one per layer and projection):
//
//   worker holds   W* = R_outᵀ · W · R_in⁻ᵀ          (sent once, "obfuscatune.load")
//   forward        x* = x·R_in  →  worker: y* = x*·W*ᵀ = x·Wᵀ·R_out  →  y = y*·R_out⁻¹
//   backward       g* = g·R_out⁻ᵀ  →  worker: gx* = g*·W*  →  dL/dx = gx*·R_inᵀ
//
// The model adds biases and LoRA branches in plaintext coordinates on top (CausalLM::project).
// In the matched variant some outputs stay obfuscated (y* is returned as is, and its gradient is
// taken as dL/dy*) and some group inputs arrive obfuscated (x* is sent as is, and dL/dx* is
// returned): output_kept() and input_preapplied() say which; the enclave's model (matched.h)
// computes on those tensors directly.
// With a Freivalds rate p, each worker reply is checked with probability p against secret
// vectors precomputed from W* (O((in + out)·rows) per check); a failed check throws
// IntegrityError.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>

#include "veil/designs/obfuscatune/options.h"
#include "veil/designs/obfuscatune/secret_rng.h"
#include "veil/designs/obfuscatune/transform.h"
#include "veil/model/config.h"
#include "veil/model/linear_executor.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::obfuscatune {

// A worker result failed an integrity check.
class IntegrityError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ExecutorStats {
  std::int64_t forward_calls = 0, backward_calls = 0;
  std::int64_t tokens_forward = 0;  // rows through the first projection group of layer 0
  std::int64_t freivalds_checks = 0;
  std::int64_t secret_bytes = 0;    // transforms and Freivalds vectors held in the enclave
  std::int64_t worker_weight_bytes = 0;
  // Wall time inside forward()/backward(): the enclave's transforms (and Freivalds checks), and
  // the worker calls (codec and transport included).
  double enclave_seconds = 0, worker_seconds = 0;
};

class ObfuscatedExecutor final : public model::LinearExecutor {
 public:
  // Draws the secret transforms, obfuscates `weights` (all projections of every block, and the
  // LM head, which stays here) and ships each layer's W* to the worker owning it. Throws
  // std::invalid_argument for missing weights, TransportError when a worker fails.
  ObfuscatedExecutor(const model::ModelConfig& cfg, model::LinearWeights weights, ObfuscatuneOptions opts,
                     transport::WorkerPool pool);

  [[nodiscard]] std::vector<at::Tensor> linear(int layer, std::span<const model::Proj> projs,
                                               const at::Tensor& x) override;
  // The LM head, which the enclave keeps in the clear: lets the loss fuse head and cross-entropy.
  [[nodiscard]] at::Tensor local_frozen_weight(const model::LinearSite& site) const override;

  [[nodiscard]] const ExecutorStats& stats() const { return stats_; }
  [[nodiscard]] const transport::WorkerPool& pool() const { return pool_; }
  [[nodiscard]] const ObfuscatuneOptions& options() const { return opts_; }
  // The secret transforms (tests check the worker never saw them).
  [[nodiscard]] const SecretTransform& input_transform(int layer, model::Proj p) const;
  [[nodiscard]] const SecretTransform& output_transform(int layer, model::Proj p) const;
  // Whether forward() returns p's output as y* = y·R_out (not restored), and whether p's group
  // takes its input already transformed (x* = x·R_in, computed by the model).
  [[nodiscard]] bool output_kept(int layer, model::Proj p) const;
  [[nodiscard]] bool input_preapplied(int layer, model::Proj p) const;

 protected:
  std::vector<at::Tensor> forward(int layer, std::span<const model::Proj> projs, const at::Tensor& x) override;
  at::Tensor backward(int layer, std::span<const model::Proj> projs, std::span<const at::Tensor> grads) override;

 private:
  struct SiteSecrets {
    SecretTransform out;
    std::int64_t out_dim = 0;
    bool kept = false;
    // Freivalds vectors (float64, empty when the rate is 0): forward y*·r == x*·u with
    // u = W*ᵀ·r; backward gx*·s == g*·t with t = W*·s (s belongs to the group).
    at::Tensor r, u, t;
  };
  struct GroupSecrets {
    SecretTransform in;
    std::int64_t in_dim = 0;
    bool preapplied = false;
    at::Tensor s;
  };
  [[nodiscard]] GroupSecrets& group(int layer, model::Proj p);
  [[nodiscard]] const GroupSecrets& group(int layer, model::Proj p) const;
  [[nodiscard]] bool draw_check();
  void check_rows(const at::Tensor& lhs, const at::Tensor& rhs, const at::Tensor& scale, int layer,
                  std::span<const model::Proj> projs, const char* pass) const;

  model::ModelConfig cfg_;
  ObfuscatuneOptions opts_;
  transport::WorkerPool pool_;
  SecretRng rng_;
  at::Tensor lm_head_;  // plaintext, [vocab, hidden]
  std::map<std::pair<int, model::Proj>, GroupSecrets> groups_;  // keyed by (layer, first proj of group)
  std::map<model::LinearSite, SiteSecrets> sites_;
  std::map<model::Proj, model::Proj> group_of_;  // proj → first proj of its group
  ExecutorStats stats_;
};

// Parameters the enclave keeps in plaintext (embeddings, norms, biases, an untied LM head) and
// their share of all parameters, for a model configuration.
struct ParameterShare {
  std::int64_t enclave = 0, worker = 0, total = 0;
  [[nodiscard]] double share() const { return total ? static_cast<double>(enclave) / static_cast<double>(total) : 0; }
};
[[nodiscard]] ParameterShare enclave_parameter_share(const model::ModelConfig& cfg);

}  // namespace veil::designs::obfuscatune
