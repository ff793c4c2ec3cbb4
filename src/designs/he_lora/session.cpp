#include "veil/designs/he_lora/session.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "designs/he_lora/loss.h"
#include "designs/plain/pipeline.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"
#include "veil/transport/audit_dir.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

// The family's model with its token embedding replaced by the encrypted one-hot product on the
// worker (the data owner does not hold the embedding table). Blocks and the final norm are the
// family's own; their projections go through the same HeLoraExecutor.
class HeLoraModel final : public model::CausalLM {
 public:
  HeLoraModel(std::unique_ptr<model::CausalLM> inner, std::shared_ptr<HeLoraExecutor> exec, bool embed_on_worker)
      : CausalLM(inner->config(), inner->params(), exec),
        inner_(std::move(inner)),
        exec_(std::move(exec)),
        embed_on_worker_(embed_on_worker) {}

  at::Tensor embed(const at::Tensor& ids, std::int64_t offset) override {
    if (!embed_on_worker_) return inner_->embed(ids, offset);
    at::Tensor e = exec_->embed(ids);
    if (model::family_traits(cfg_.family).positions == model::Positions::kLearned) {
      auto pos = at::arange(offset, offset + ids.size(1), at::kLong);
      e = e + at::embedding(params_.pos_emb, pos);
    }
    return e;
  }
  at::Tensor block(int layer, const at::Tensor& h, model::KvCache* cache, std::int64_t offset) override {
    return inner_->block(layer, h, cache, offset);
  }
  at::Tensor final_norm(const at::Tensor& h) override { return inner_->final_norm(h); }

  void attach_lora(std::shared_ptr<model::LoraAdapters> lora) {
    inner_->set_lora(lora);
    set_lora(std::move(lora));
  }

 private:
  std::unique_ptr<model::CausalLM> inner_;
  std::shared_ptr<HeLoraExecutor> exec_;
  bool embed_on_worker_;
};

std::int64_t numel_unique(const std::vector<at::Tensor>& ts) {
  std::set<const void*> seen;
  std::int64_t n = 0;
  for (const auto& t : ts)
    if (t.defined() && seen.insert(t.data_ptr()).second) n += t.numel();
  return n;
}

}  // namespace

HeLoraSession::HeLoraSession(const train::FinetuneConfig& cfg, std::shared_ptr<model::ModelFiles> files)
    : opts_(HeLoraOptions::parse(cfg.design_options)),
      lora_dropout_(cfg.lora.dropout > 0),
      remote_workers_(!cfg.parties.workers.empty()) {
  if (!files) files = std::make_shared<model::ModelFiles>(model::read_model(cfg.model));
  const model::ModelConfig mc = files->config;
  const int L = static_cast<int>(mc.num_layers);
  VEIL_CHECK_ARG(opts_.skip_backward_layers <= L, "--opt skip_backward_layers=", opts_.skip_backward_layers,
                 " exceeds the model's ", L, " layers");
  const he::Parameters parms = parameters_for(mc, opts_.bits, opts_.weight_bits, opts_.precision);

  // Parameter accounting before anything is dropped.
  std::vector<at::Tensor> all = files->weights.params.all();
  for (const auto& [site, w] : files->weights.linear) all.push_back(w);
  total_params_ = numel_unique(all);

  transport::WorkerPool pool;
  if (cfg.parties.workers.empty()) {
    VEIL_CHECK_ARG(opts_.in_process_workers <= L, "--opt workers=in-process:", opts_.in_process_workers,
                   ": more workers than the model's ", L, " layers");
    std::vector<transport::WorkerPool::Worker> ws;
    const int n = opts_.in_process_workers;
    for (int i = 0; i < n; ++i) {
      const int first = L * i / n, last = L * (i + 1) / n;
      auto service = std::make_shared<transport::Service>("worker-" + std::to_string(i));
      // In memory for the tests (worker_taps()); on disk with --audit-dir (one folder per worker
      // when there are several), as `veil worker --audit-dir` records.
      std::shared_ptr<transport::AuditTap> tap;
      if (cfg.parties.audit_dir.empty())
        tap = std::make_shared<transport::AuditTap>();
      else
        tap = std::make_shared<transport::DirectoryTap>(
            n == 1 ? cfg.parties.audit_dir : cfg.parties.audit_dir / ("worker-" + std::to_string(i)));
      service->set_tap(tap);
      taps_.push_back(tap);
      install_worker(*service, files, first, last);
      ws.push_back({transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "local")), first, last});
    }
    pool = transport::WorkerPool(std::move(ws));
  } else {
    VEIL_CHECK_ARG(opts_.in_process_workers == 1, "--opt workers=in-process:N conflicts with --workers");
    WorkerContext ctx;
    ctx.model = cfg.model;
    ctx.options = cfg.design_options;
    pool = open_workers("he-lora", cfg.parties, ctx, L);
  }

  // What the data owner keeps: norms, biases, positions; the embedding and the LM head only when
  // asked to keep them local.
  model::ModelParams params = files->weights.params;
  at::Tensor local_head;
  if (!opts_.lm_head_on_worker) local_head = files->weights.linear.at({L, model::Proj::kLmHead});
  if (opts_.embed_on_worker) params.tok_emb = at::Tensor();
  std::vector<at::Tensor> kept = params.all();
  if (local_head.defined()) kept.push_back(local_head);
  owner_params_ = numel_unique(kept);
  exec_ = std::make_shared<HeLoraExecutor>(mc, std::move(pool), parms, *files, local_head, opts_.embed_on_worker);
  if (!cfg.parties.workers.empty()) files.reset();  // remote workers: drop the local copy of the weights
  auto inner = model::build_model(mc, params, exec_);
  auto m = std::make_unique<HeLoraModel>(std::move(inner), exec_, opts_.embed_on_worker);
  lora_ = std::make_shared<model::LoraAdapters>(mc, cfg.lora, cfg.seed);
  // skip_backward_layers=N: no adapters below layer N, so autograd never asks for a gradient
  // through those layers' base weights (nothing below them trains).
  for (auto it = lora_->pairs().begin(); it != lora_->pairs().end();)
    it = it->first.layer < opts_.skip_backward_layers ? lora_->pairs().erase(it) : std::next(it);
  m->attach_lora(lora_);
  model_ = std::move(m);
}

HeLoraSession::~HeLoraSession() = default;

bool HeLoraSession::pipelined() const {
  if (lora_dropout_ || opts_.pipeline == HeLoraOptions::Pipeline::kOff) return false;
  return opts_.pipeline == HeLoraOptions::Pipeline::kOn || remote_workers_;
}

void HeLoraSession::set_adapters(std::shared_ptr<model::LoraAdapters> lora) {
  VEIL_CHECK_ARG(lora != nullptr, "he-lora: set_adapters needs adapters");
  lora_ = std::move(lora);
  static_cast<HeLoraModel&>(*model_).attach_lora(lora_);
}

model::CausalLM& HeLoraSession::model() { return *model_; }

train::StepStats HeLoraSession::step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) {
  const int in_flight = opts_.in_flight > 0 ? opts_.in_flight : std::max(2, static_cast<int>(exec_->pool().size()));
  train::StepStats s;
  if (!opts_.lm_head_on_worker && !(pipelined() && micro.size() > 1)) {
    s = trainer.step(micro);  // the head is local: no worker sees its rows
  } else {
    // With the head on a worker: every row through it and a backward pass for every micro-batch
    // (designs/he_lora/loss.h), so the worker's calls do not depend on the labels.
    const auto params = trainable();
    plain::MicroBatchLoss how;
    if (opts_.lm_head_on_worker) {
      how.loss = all_rows_loss;
      how.backward_without_targets = true;
    }
    const int n = pipelined() && micro.size() > 1 ? in_flight : 1;
    s = trainer.step_with([&] { return plain::micro_batch_gradients(*model_, params, micro, n, how); });
  }
  tokens_ += s.tokens;
  return s;
}

train::EvalStats HeLoraSession::evaluate(std::span<const train::MicroBatch> batches) {
  for (const auto& b : batches) tokens_ += b.input_ids.numel();
  return opts_.lm_head_on_worker ? all_rows_evaluate(*model_, batches) : train::evaluate_loss(*model_, batches);
}

nlohmann::json HeLoraSession::report() const {
  const auto t = exec_->traffic();
  const auto& p = exec_->parameters();
  const double tokens = static_cast<double>(std::max<std::int64_t>(tokens_, 1));
  nlohmann::json j;
  j["bits"] = opts_.bits;
  j["weight_bits"] = opts_.weight_bits;
  j["he_parameters"] = {{"poly_degree", p.poly_degree}, {"log_q", p.log_q}, {"log_t", p.log_t},
                        {"log_q_down", p.log_q_down}, {"max_inner_dim", p.max_inner_dim}};
  j["precision"] = p.compact() ? "compact" : "exact";
  j["security_bits"] = security_bits(p);
  j["workers"] = exec_->pool().size();
  j["lm_head"] = opts_.lm_head_on_worker ? "worker" : "local";
  j["embed"] = opts_.embed_on_worker ? "worker" : "local";
  j["skip_backward_layers"] = opts_.skip_backward_layers;
  j["pipelined"] = pipelined();
  j["owner_base_parameters"] = owner_params_;
  j["total_base_parameters"] = total_params_;
  j["lora_parameters"] = lora_->num_parameters();
  // The base model's parameters held by the data owner (the goal: at most 10%), and the share
  // counting the adapters it trains as well.
  j["owner_parameter_share"] = static_cast<double>(owner_params_) / static_cast<double>(total_params_);
  j["owner_parameter_share_with_lora"] = static_cast<double>(owner_params_ + lora_->num_parameters()) /
                                         static_cast<double>(total_params_ + lora_->num_parameters());
  j["tokens"] = tokens_;
  j["upload_bytes"] = t.upload_bytes;
  j["result_bytes"] = t.result_bytes;
  j["plan_info_bytes"] = t.plan_info_bytes;
  j["owner_mask_bytes"] = exec_->mask_bytes();
  // The checks of the workers' products (docs/designs/he-lora.md "Malicious worker").
  const auto c = exec_->check_stats();
  j["owner_check_bytes"] = exec_->check_bytes();
  j["checked_products"] = c.products;
  j["checked_plan_masks"] = c.masks;
  j["check_product_seconds"] = c.product_seconds;
  j["check_mask_seconds"] = c.mask_seconds;
  j["check_setup_seconds"] = c.setup_seconds;
  j["upload_bytes_per_token"] = static_cast<double>(t.upload_bytes) / tokens;
  j["result_bytes_per_token"] = static_cast<double>(t.result_bytes) / tokens;
  return j;
}

DesignCost HeLoraSession::cost() const {
  const auto t = exec_->traffic();
  const double tokens = static_cast<double>(std::max<std::int64_t>(tokens_, 1));
  DesignCost c;
  c.bytes_up_per_token = static_cast<double>(t.upload_bytes) / tokens;
  c.bytes_down_per_token = static_cast<double>(t.result_bytes) / tokens;
  c.owner_parameter_share = static_cast<double>(owner_params_) / static_cast<double>(total_params_);
  c.enclave_parameter_share = 0;
  return c;
}

std::unique_ptr<HeLoraSession> open_for_generation(const std::filesystem::path& model,
                                                  const std::map<std::string, std::string>& options,
                                                  const train::PartyOptions& parties,
                                                  const std::filesystem::path& adapter) {
  train::FinetuneConfig cfg;
  cfg.model = model;
  cfg.design = "he-lora";
  cfg.design_options = options;
  cfg.parties = parties;
  auto s = std::make_unique<HeLoraSession>(cfg);
  if (!adapter.empty()) s->set_adapters(lora::load_peft_adapter(adapter, s->model().config()));
  return s;
}

std::vector<std::int64_t> generate(HeLoraSession& session, std::span<const std::int64_t> prompt,
                                   const model::GenerationConfig& cfg,
                                   const std::function<bool(std::int64_t)>& on_token) {
  at::NoGradGuard no_grad;
  session.model().set_training(false);
  return model::generate(session.model(), prompt, cfg, on_token);
}

}  // namespace veil::designs::he_lora
