#include "designs/plain/session.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "designs/plain/pipeline.h"
#include "designs/plain/remote_executor.h"
#include "veil/designs/plain/local_session.h"
#include "veil/designs/registry.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/transport/connect.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::designs::plain {
namespace {

using nlohmann::json;
using transport::ErrorCode;
using transport::TrafficStats;
using transport::TransportError;

struct Options {
  bool in_process = false;
  int shards = 1;
  bool pipeline = true;
  int in_flight = 0;  // 0: max(2, workers)
  double worker_wait_s = 300;
};

template <class T>
T parse_number(const std::string& key, const std::string& value, T lo, T hi) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  VEIL_CHECK_ARG(used == value.size() && std::isfinite(v) && v >= static_cast<double>(lo) && v <= static_cast<double>(hi),
                 "--opt ", key, "=", value, ": expected a number in [", lo, ", ", hi, "]");
  return static_cast<T>(v);
}

Options parse_options(const train::FinetuneConfig& cfg) {
  Options o;
  for (const auto& [k, v] : cfg.design_options) {
    if (k == "workers") {
      VEIL_CHECK_ARG(v == "in-process", "--opt workers=", v, ": the only value is 'in-process' (remote workers are "
                                        "given with --workers host:port,...)");
      o.in_process = true;
    } else if (k == "shards") {
      o.shards = parse_number<int>(k, v, 1, 1 << 16);
    } else if (k == "pipeline") {
      VEIL_CHECK_ARG(v == "on" || v == "off", "--opt pipeline=", v, ": expected on or off");
      o.pipeline = v == "on";
    } else if (k == "in_flight") {
      o.in_flight = parse_number<int>(k, v, 1, 1 << 16);
    } else if (k == "worker_wait_s") {
      o.worker_wait_s = parse_number<double>(k, v, 0.0, 1e7);
    } else {
      VEIL_CHECK_ARG(false, "design 'plain' has no option '", k,
                     "' (options: workers=in-process, shards, pipeline, in_flight, worker_wait_s)");
    }
  }
  VEIL_CHECK_ARG(!(o.in_process && !cfg.parties.workers.empty()),
                 "--opt workers=in-process and --workers exclude each other");
  VEIL_CHECK_ARG(o.shards == 1 || o.in_process, "--opt shards applies to workers=in-process only (with --workers, "
                                                "each worker's --layers decide)");
  return o;
}

// N in-process workers with contiguous, near-equal layer ranges.
transport::WorkerPool in_process_workers(const std::filesystem::path& model, int num_layers, int shards) {
  VEIL_CHECK_ARG(shards <= num_layers, "--opt shards=", shards, " exceeds the model's ", num_layers, " layers");
  std::vector<transport::WorkerPool::Worker> ws;
  for (int i = 0; i < shards; ++i) {
    const int first = num_layers * i / shards, last = num_layers * (i + 1) / shards;
    auto service = std::make_shared<transport::Service>("worker-" + std::to_string(i));
    designs::install_worker("plain", *service, {model, first, last, {}});
    ws.push_back({transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "local")), first, last});
  }
  return transport::WorkerPool(std::move(ws));
}

class RemotePlainSession final : public train::DesignSession {
 public:
  RemotePlainSession(const train::FinetuneConfig& cfg, Options opt)
      : opt_(opt), parties_(cfg.parties), lora_dropout_(cfg.lora.dropout > 0) {
    auto files = model::read_model(cfg.model);
    num_layers_ = static_cast<int>(files.config.num_layers);
    auto head = files.weights.linear.at({num_layers_, model::Proj::kLmHead});
    files.weights.linear.clear();  // the block projections are the workers'
    auto pool = opt_.in_process ? in_process_workers(cfg.model, num_layers_, opt_.shards)
                                : designs::open_workers("plain", cfg.parties, {cfg.model, 0, -1, {}}, num_layers_);
    remote_ = !opt_.in_process;
    exec_ = std::make_shared<RemoteExecutor>(pool, num_layers_, head);
    model_ = model::build_model(files.config, std::move(files.weights.params), exec_);
    lora_ = std::make_shared<model::LoraAdapters>(model_->config(), cfg.lora, cfg.seed);
    model_->set_lora(lora_);
    params_ = lora_->parameters();
  }

  model::CausalLM& model() override { return *model_; }
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }

  train::StepStats step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) override {
    VEIL_CHECK_ARG(!micro.empty(), "a step needs at least one micro-batch");
    // Everything the step's randomness depends on (LoRA dropout) is restored before a redo.
    const auto rng = at::detail::getDefaultCPUGenerator().get_state();
    const auto before = exec_->total_traffic();
    for (;;) {
      try {
        auto s = trainer.step_with([&] { return gradients(micro); });
        train_traffic_ += delta(exec_->total_traffic(), before);
        train_tokens_ += s.tokens;
        last_step_ = trainer.steps_done();
        return s;
      } catch (const std::exception& e) {
        auto w = exec_->outage();
        if (!w) throw;
        recover(*w, util::cat("step ", trainer.steps_done() + 1), e.what());
        auto gen = at::detail::getDefaultCPUGenerator();
        gen.set_state(rng);
        ++steps_redone_;
      }
    }
  }

  train::EvalStats evaluate(std::span<const train::MicroBatch> batches) override {
    for (;;) {
      try {
        return train::evaluate_loss(*model_, batches);
      } catch (const std::exception& e) {
        auto w = exec_->outage();
        if (!w) throw;
        recover(*w, util::cat("the evaluation after step ", last_step_), e.what());
      }
    }
  }

  // Training traffic per token (weights are the workers' own: nothing is loaded over the wire).
  DesignCost cost() const override {
    const double tokens = static_cast<double>(std::max<std::int64_t>(1, train_tokens_));
    DesignCost c;
    c.bytes_up_per_token = static_cast<double>(train_traffic_.bytes_sent) / tokens;
    c.bytes_down_per_token = static_cast<double>(train_traffic_.bytes_received) / tokens;
    c.enclave_parameter_share = 0;
    return c;
  }

  json report() const override {
    json workers = json::array();
    for (const auto& w : exec_->traffic())
      workers.push_back({{"peer", w.peer},
                         {"layers", util::cat(w.first_layer, ":", w.last_layer)},
                         {"calls", w.traffic.calls},
                         {"bytes_received_from_data_owner", w.traffic.bytes_sent},
                         {"bytes_sent_to_data_owner", w.traffic.bytes_received}});
    const auto total = exec_->total_traffic();
    const double tokens = static_cast<double>(std::max<std::int64_t>(1, train_tokens_));
    return {{"executor", "remote"},
            {"workers", workers},
            {"data_owner", {{"bytes_sent", total.bytes_sent}, {"bytes_received", total.bytes_received},
                            {"calls", total.calls}}},
            {"train_tokens", train_tokens_},
            {"train_bytes_sent", train_traffic_.bytes_sent},
            {"train_bytes_received", train_traffic_.bytes_received},
            {"bytes_sent_per_token", static_cast<double>(train_traffic_.bytes_sent) / tokens},
            {"bytes_received_per_token", static_cast<double>(train_traffic_.bytes_received) / tokens},
            {"pipelined", pipelined()},
            {"in_flight", in_flight()},
            {"outages", outages_},
            {"steps_redone", steps_redone_}};
  }

 private:
  [[nodiscard]] bool pipelined() const { return opt_.pipeline && !lora_dropout_; }
  [[nodiscard]] int in_flight() const {
    return opt_.in_flight > 0 ? opt_.in_flight : std::max<int>(2, static_cast<int>(exec_->num_workers()));
  }

  static TrafficStats delta(const TrafficStats& after, const TrafficStats& before) {
    return {after.calls - before.calls, after.bytes_sent - before.bytes_sent, after.bytes_received - before.bytes_received};
  }

  train::Trainer::Gradients gradients(std::span<const train::MicroBatch> micro) {
    return micro_batch_gradients(*model_, params_, micro, pipelined() ? in_flight() : 1);
  }

  // Waits until worker `index` (or a replacement at its address) answers worker.info again.
  void recover(std::size_t index, const std::string& when, const std::string& error) {
    const auto w = exec_->worker(index);
    ++outages_;
    if (!remote_) throw std::runtime_error(util::cat("in-process worker ", w.peer, " failed during ", when, ": ", error));
    std::fprintf(stderr,
                 "veil: worker %s (layers %d:%d) unavailable at %s (%s); waiting up to %g s for it (or a replacement) "
                 "to answer; the data owner's training state is kept\n",
                 w.peer.c_str(), w.first_layer, w.last_layer, when.c_str(), error.c_str(), opt_.worker_wait_s);
    transport::ConnectOptions copts;
    copts.tls = {parties_.tls_cert, parties_.tls_key, parties_.tls_ca, parties_.insecure};
    copts.tls_server_name = parties_.tls_server_name;  // the same name open_workers checked
    auto probe_opts = copts;
    probe_opts.deadline = std::chrono::seconds(5);
    probe_opts.retries = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt_.worker_wait_s);
    auto backoff = std::chrono::milliseconds(200);
    std::string last_error = error;
    for (;;) {
      try {
        auto probe = transport::connect(w.peer, probe_opts);
        transport::Message q;
        q.op = "worker.info";
        auto info = probe->call(q);
        const int last = info.ints.size() == 2 && info.ints[1] < 0 ? num_layers_ : (info.ints.size() == 2 ? info.ints[1] : -2);
        const auto design = info.meta.count("design") ? info.meta.at("design") : std::string("?");
        VEIL_CHECK_ARG(info.ints.size() == 2 && info.ints[0] == w.first_layer && last == w.last_layer && design == "plain",
                       "the worker now at ", w.peer, " serves design '", design, "' layers ",
                       info.ints.empty() ? -1 : info.ints[0], ":", last, ", but this run needs 'plain' layers ",
                       w.first_layer, ":", w.last_layer);
        exec_->replace_endpoint(index, transport::connect(w.peer, copts));
        exec_->clear_outage();
        std::fprintf(stderr, "veil: worker %s is back; redoing %s from its start\n", w.peer.c_str(), when.c_str());
        return;
      } catch (const TransportError& e) {
        if (e.code() != ErrorCode::kUnavailable && e.code() != ErrorCode::kDeadlineExceeded) throw;
        last_error = e.what();
      }
      if (std::chrono::steady_clock::now() + backoff > deadline)
        throw std::runtime_error(util::cat("worker ", w.peer, " (layers ", w.first_layer, ":", w.last_layer,
                                           ") did not come back within ", opt_.worker_wait_s,
                                           " s (--opt worker_wait_s); last error: ", last_error,
                                           ". The checkpoints of completed steps are kept: rerun with --resume."));
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }

  Options opt_;
  train::PartyOptions parties_;
  bool lora_dropout_;
  bool remote_ = false;
  int num_layers_ = 0;
  std::shared_ptr<RemoteExecutor> exec_;
  std::unique_ptr<model::CausalLM> model_;
  std::shared_ptr<model::LoraAdapters> lora_;
  std::vector<at::Tensor> params_;  // what the trainer updates (trainable() = the adapters' parameters)
  TrafficStats train_traffic_;
  std::int64_t train_tokens_ = 0, last_step_ = 0;
  int outages_ = 0, steps_redone_ = 0;
};

}  // namespace

std::unique_ptr<train::DesignSession> open_session(const train::FinetuneConfig& cfg) {
  if (cfg.parties.workers.empty() && cfg.design_options.empty()) return open_local_session(cfg);
  auto opt = parse_options(cfg);
  VEIL_CHECK_ARG(opt.in_process || !cfg.parties.workers.empty(),
                 "design 'plain' options apply to runs with workers: give --workers host:port,... or --opt "
                 "workers=in-process");
  return std::make_unique<RemotePlainSession>(cfg, opt);
}

}  // namespace veil::designs::plain
