// The data owner's half of he-lora's products: a LinearExecutor whose products with base weights
// run on workers over encrypted activations (forward) and encrypted output gradients (backward).
//
//   forward(group, x):   quantise x per row, encrypt under a one-time key (one upload per group:
//                        q/k/v and gate/up share theirs), he.forward, decrypt, correct zero points,
//                        dequantise, split into the group's outputs
//   backward(group, g):  the same with the concatenated output gradients and Wᵀ
//   embed(ids):          table lookup: one-hot(id mod C) encrypted (C = min(N, vocab)), times the
//                        re-laid embedding on the worker; the data owner keeps chunk id / C
// The secret keys are created, used and zeroised here; they never leave this object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/he/matmul.h"
#include "veil/he/verify.h"
#include "veil/model/linear_executor.h"
#include "veil/model/loader.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::he_lora {

struct HeTraffic {
  std::uint64_t uploads = 0, results = 0;          // ciphertext blobs sent / received
  std::uint64_t upload_bytes = 0, result_bytes = 0;  // their bytes
  std::uint64_t plan_info_bytes = 0;                // one-time public masks
  // Upload and result bytes per layer (-1: the embedding, num_layers: the LM head).
  std::map<int, std::pair<std::uint64_t, std::uint64_t>> by_layer;
};

class HeLoraExecutor final : public model::LinearExecutor {
 public:
  // Draws the session's CRS seed and session id (OpenSSL), computes the checks of every plan the
  // workers may be asked for from the public weights in `files` (he::ProductCheck: the data owner
  // keeps W·r per plan, not the weights), and sends he.setup with `parms` to every worker.
  // `local_head` (optional, [vocab, hidden]) keeps the LM head on the data owner (lm_head=local);
  // `embed_on_worker` false: no embedding plan is checked (embed=local).
  HeLoraExecutor(const model::ModelConfig& cfg, transport::WorkerPool pool, const he::Parameters& parms,
                 const model::ModelFiles& files, at::Tensor local_head = {}, bool embed_on_worker = true);
  ~HeLoraExecutor() override;  // he.close to every worker (best effort)

  [[nodiscard]] std::vector<at::Tensor> linear(int layer, std::span<const model::Proj> projs,
                                               const at::Tensor& x) override;
  // Token embeddings [..., hidden] for ids [...], computed by the worker on an encrypted one-hot.
  [[nodiscard]] at::Tensor embed(const at::Tensor& ids);

  [[nodiscard]] const he::Parameters& parameters() const { return parms_; }
  [[nodiscard]] HeTraffic traffic() const;
  // The distinct parameter sets of the plans fetched so far (the worker fits one per plan).
  [[nodiscard]] std::vector<he::Parameters> plan_parameters() const;
  // Bytes of the public plan masks the data owner holds (its main memory cost, docs §3.5).
  [[nodiscard]] std::size_t mask_bytes() const;
  [[nodiscard]] const transport::WorkerPool& pool() const { return pool_; }
  // Bytes the data owner keeps to check the workers' products (the ProductChecks).
  [[nodiscard]] std::size_t check_bytes() const;
  // Results and plan masks checked so far and the seconds spent on those checks; setup_seconds:
  // computing the checks from the public weights (once, in the constructor).
  struct CheckStats {
    std::uint64_t products = 0, masks = 0;
    double product_seconds = 0, mask_seconds = 0, setup_seconds = 0;
  };
  [[nodiscard]] CheckStats check_stats() const;

 protected:
  std::vector<at::Tensor> forward(int layer, std::span<const model::Proj> projs, const at::Tensor& x) override;
  at::Tensor backward(int layer, std::span<const model::Proj> projs, std::span<const at::Tensor> grads) override;

 private:
  struct PlanSet {
    std::vector<std::uint64_t> ids;  // one per inner chunk
    std::vector<std::int64_t> chunk;  // inner sizes
    std::vector<he::HeMatmulClient*> clients;  // the parameter set of each plan
  };
  using GroupKey = std::tuple<int, std::vector<std::int32_t>, int>;  // layer, group, direction
  // Calls the worker owning `layer`; a result or plan that fails a check becomes a
  // he::VerificationError naming the worker and the check.
  [[noreturn]] void misbehaved(int layer, const std::exception& e) const;
  // The client for a plan's parameters, after checking them against the session's (128-bit
  // security, public CRS seed, ring dimension, bit widths, precision). Holds client_mu_ exclusively.
  he::HeMatmulClient& client_for(const he::Parameters& plan_parms, bool lookup);
  // Encrypted product of m x k matrix x with the group's weight (k = its inner dim) in direction d.
  [[nodiscard]] at::Tensor product(int layer, const std::vector<std::int32_t>& group, int direction,
                                   const at::Tensor& x2d);
  const PlanSet& plans(int layer, const std::vector<std::int32_t>& group, int direction, he::Layout layout);
  transport::Endpoint& route(int layer) const;

  model::ModelConfig cfg_;
  transport::WorkerPool pool_;
  he::Parameters parms_;
  std::string session_id_;  // kSessionIdBytes random bytes, in every request
  std::map<GroupKey, std::vector<std::shared_ptr<const he::ProductCheck>>> checks_;  // immutable after construction
  std::size_t check_bytes_ = 0;
  CheckStats check_stats_;  // guarded by mu_
  std::map<std::uint64_t, std::unique_ptr<he::HeMatmulClient>> clients_;  // by parameter hash
  std::uint64_t crs_coefficients_ = 0;  // sum of max_inner_dim x N over clients_ (their CRS caches)
  at::Tensor local_head_;
  std::map<std::tuple<int, std::vector<std::int32_t>, int, int>, PlanSet> plans_;
  // Thread safety (pipelined micro-batches call linear() concurrently): mu_ guards plans_ and
  // traffic_; client_mu_ is held shared by encryption and decryption, exclusively while a plan's
  // mask (or a client) is added; fetch_mu_ makes each plan's he.plan_info happen once.
  mutable std::mutex mu_;
  mutable std::shared_mutex client_mu_;
  std::mutex fetch_mu_;
  HeTraffic traffic_;
};

}  // namespace veil::designs::he_lora
