// The data owner's half of `split` and `gradfree`: the model it trains runs its own blocks
// locally and the middle blocks through the server.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "designs/guarded/client_secret.h"
#include "designs/guarded/dp_noise.h"
#include "designs/guarded/fixed_shape.h"
#include "veil/designs/guarded/split.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/train/finetune.h"
#include "veil/transport/endpoint.h"
#include "veil/transport/worker_pool.h"

namespace veil::designs::guarded {

// Parameter and per-token FLOP shares of a U-shaped split (forward: 2 FLOPs per weight per token
// plus attention's 4·T·q_dim per block; backward twice the forward).
struct CostModel {
  double block_params = 0, head_params = 0, embed_params = 0;
  double block_flops = 0, head_flops = 0;  // forward, per token
};
[[nodiscard]] CostModel cost_model(const model::ModelConfig& c, std::int64_t seq_len);

class SplitClient : public train::DesignSession {
 public:
  SplitClient(const train::FinetuneConfig& cfg, SplitOptions o, std::shared_ptr<transport::Endpoint> server);
  ~SplitClient() override;

  model::CausalLM& model() override { return *split_lm_; }
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }
  std::vector<at::Tensor> trainable() override;
  train::StepStats step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) override;
  train::EvalStats evaluate(std::span<const train::MicroBatch> batches) override;
  // With server_lora: fetches the server's LoRA into adapters() (split.get_lora), so checkpoints
  // and the PEFT output hold the whole adapter; adapters_restored() sends it back on resume
  // (split.set_lora; the server's optimizer state restarts).
  void sync() override;
  void adapters_restored() override;
  [[nodiscard]] nlohmann::json report() const override;
  [[nodiscard]] DesignCost cost() const override;

  // What the middle returns for the client's activation h (the wire, enhancements and, when
  // training `split`, the remote autograd link).
  [[nodiscard]] at::Tensor remote_middle(const at::Tensor& h, std::int64_t offset);
  // Called by the model on its embedding output and on the activation it sends (dcor penalty).
  void note_embedding(const at::Tensor& x) { embedding_ = x; }
  [[nodiscard]] at::Tensor apply_dcor(const at::Tensor& h);

  // Wire helpers used by the autograd link.
  [[nodiscard]] at::Tensor send_forward(const at::Tensor& h, std::int64_t offset, int mb, bool want_grad);
  [[nodiscard]] at::Tensor send_backward(const at::Tensor& g, int mb);
  [[nodiscard]] int next_micro_batch() { return next_mb_++; }

  [[nodiscard]] const SplitOptions& options() const { return o_; }
  [[nodiscard]] int middle_begin() const { return o_.k; }
  [[nodiscard]] int middle_end() const { return middle_end_; }

 private:
  void open_server();
  // server_->call, timed in wall-clock and process CPU seconds (with an in-process server, the
  // server's compute; the rest of a step is the client's own).
  transport::Message call(transport::Message req);
  void zo_update(std::span<const train::MicroBatch> micro, double lr, std::int64_t step);
  // Decodes tensor `name` of the server's reply to `op` and checks it has `like`'s shape and only
  // finite values; anything else is a clear std::runtime_error naming the server.
  [[nodiscard]] at::Tensor checked_reply(const transport::Message& r, const char* op, const char* name,
                                         const at::Tensor& like) const;
  // Forward releases of one training example over the run (noise accounting).
  [[nodiscard]] std::int64_t releases_per_example() const;
  // Converts a server LoRA pair between the server's (mixed) and the model's coordinates.
  void server_lora_coordinates(model::LinearSite site, at::Tensor& a, at::Tensor& b, bool to_server) const;

  train::FinetuneConfig cfg_;
  SplitOptions o_;
  transport::WorkerPool pool_;  // keeps an in-process worker alive
  std::shared_ptr<transport::Endpoint> server_;
  model::LoadedModel inner_;
  std::unique_ptr<model::CausalLM> split_lm_;
  std::shared_ptr<model::LoraAdapters> lora_;
  std::vector<at::Tensor> top_params_, client_params_;
  at::Tensor mix_;  // [d, d] f64 orthogonal (mix=orthogonal)
  ClientSecret secret_;  // LoRA initialisation and ZO directions; never sent
  GridNoise grid_;       // the noise option's exact sampler parameters
  FixedShape shape_;     // every micro-batch the server sees has this shape
  at::Tensor embedding_;
  int middle_end_ = 0;
  int next_mb_ = 0;
  std::int64_t tokens_ = 0, forwards_ = 0, backwards_ = 0, zo_steps_ = 0, evaluations_ = 0;
  double last_dcor_ = -1, last_zo_grad_ = 0, server_seconds_ = 0, server_cpu_seconds_ = 0;
  std::int64_t seq_len_seen_ = 0;
};

}  // namespace veil::designs::guarded
