// Transport benchmark: the per-step cost of running a model's block projections on a worker (the
// `plain` design's RemoteExecutor) against running them in-process (PlainExecutor), and the bytes
// each training token puts on the wire.
//
// Shapes: GPT-2-small (12 layers) and Llama-3.2-1B (2 of its 16 layers by default: the per-layer
// figures are what matters and a full 1B model does not fit the time budget), random fp32 weights,
// LoRA r=8 alpha=16 on every linear layer except lm_head, batch 1 x seq 128, AdamW.
//
// For each shape, side by side in one process:
//   local      PlainExecutor (the plain design's engine)
//   remote     RemoteExecutor → worker Service, over the selected transport
//   remote ×2  two workers (half the layers each), 2 micro-batches per step, one after the other
//   pipelined  the same with both micro-batches in flight (micro_batch_gradients, in_flight=2)
// Prints medians over the timed steps and the ratios, then exactly one JSON line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "designs/plain/pipeline.h"
#include "designs/plain/remote_executor.h"
#include "designs/plain/worker.h"
#include "veil/model/causal_lm.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/runtime/threads.h"
#include "veil/train/trainer.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace plain = veil::designs::plain;
namespace model = veil::model;
namespace transport = veil::transport;

struct Options {
  std::vector<std::string> models = {"gpt2", "llama1b"};
  int steps = 3, warmup = 1, layers = -1;
  std::int64_t seq = 128;
  int blas = 0, omp = 1;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double round3(double v) { return std::round(v * 1000) / 1000; }

model::ModelConfig make_config(const std::string& name, int layers) {
  model::ModelConfig c;
  if (name == "gpt2") {
    c.family = model::Family::kGpt2;
    c.vocab_size = 50257;
    c.hidden_size = 768;
    c.num_layers = 12;
    c.num_heads = 12;
    c.num_kv_heads = 12;
    c.head_dim = 64;
    c.intermediate_size = 3072;
    c.max_position_embeddings = 1024;
    c.hidden_act = "gelu_new";
    c.tie_word_embeddings = true;
  } else if (name == "llama1b") {
    c.family = model::Family::kLlama;
    c.vocab_size = 128256;
    c.hidden_size = 2048;
    c.num_layers = 16;
    c.num_heads = 32;
    c.num_kv_heads = 8;
    c.head_dim = 64;
    c.intermediate_size = 8192;
    c.max_position_embeddings = 131072;
    c.rope_theta = 500000.0;
    c.hidden_act = "silu";
    c.tie_word_embeddings = true;
  } else {
    throw std::invalid_argument("--model must be gpt2, llama1b or both (got '" + name + "')");
  }
  if (layers > 0) c.num_layers = std::min<std::int64_t>(layers, c.num_layers);
  c.validate();
  return c;
}

struct Measured {
  double step_ms = 0;
  double bytes_per_token = 0;  // sent + received by the data owner, per training token
};

// Median step time of `trainer` over `micro`, with the gradient half from `grads`.
template <class Grads>
double time_steps(veil::train::Trainer& trainer, const Options& o, const std::string& label, Grads grads) {
  std::vector<double> times;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    auto t0 = Clock::now();
    auto st = trainer.step_with(grads);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("  %-22s %s %d: %8.1f ms  loss %.4f\n", label.c_str(), i < o.warmup ? "warmup" : "step  ", i, ms,
                st.loss);
    std::fflush(stdout);
    if (i >= o.warmup) times.push_back(ms);
  }
  return median(times);
}

// Workers over `shards` contiguous layer ranges, each a Service with the plain handlers.
transport::WorkerPool workers(const model::ModelConfig& cfg, const model::LinearWeights& linear, int shards) {
  std::vector<transport::WorkerPool::Worker> ws;
  const int n = static_cast<int>(cfg.num_layers);
  for (int i = 0; i < shards; ++i) {
    const int first = n * i / shards, last = n * (i + 1) / shards;
    auto svc = std::make_shared<transport::Service>("worker-" + std::to_string(i));
    plain::install_handlers(*svc, std::make_shared<const plain::LayerWeights>(cfg, linear, first, last));
    ws.push_back({transport::connect_in_process(svc), first, last});
  }
  return transport::WorkerPool(std::move(ws));
}

json bench_model(const std::string& name, const Options& o) {
  auto cfg = make_config(name, o.layers > 0 ? o.layers : (name == "gpt2" ? 12 : 2));
  const auto full = make_config(name, 0).num_layers;
  auto w = model::family_traits(cfg.family).import_weights(cfg, model::random_hf_weights(cfg, 1));
  const int n = static_cast<int>(cfg.num_layers);
  std::printf("%s: %d/%lld layers, batch 1 x seq %lld, %s\n", name.c_str(), n, static_cast<long long>(full),
              static_cast<long long>(o.seq), veil::runtime::describe_threads().c_str());

  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto make_batch = [&] {
    at::Tensor ids = at::randint(cfg.vocab_size, {1, o.seq}, gen, at::kLong);
    at::Tensor labels = at::full({1, o.seq}, -100, at::kLong);
    labels.narrow(1, 0, o.seq - 1).copy_(ids.narrow(1, 1, o.seq - 1));
    return veil::train::MicroBatch{ids, labels};
  };
  std::vector<veil::train::MicroBatch> one{make_batch()}, two{one[0], make_batch()};
  veil::train::OptimConfig oc;
  oc.lr = 1e-4;
  oc.total_steps = o.warmup + o.steps;

  auto run = [&](std::shared_ptr<model::LinearExecutor> exec, const std::string& label,
                 std::span<const veil::train::MicroBatch> micro, int in_flight) {
    auto m = model::build_model(cfg, w.params, exec);
    auto lora = std::make_shared<model::LoraAdapters>(cfg, model::LoraConfig{}, 2);
    m->set_lora(lora);
    veil::train::Trainer trainer(*m, lora->parameters(), oc);
    return time_steps(trainer, o, label, [&] { return plain::micro_batch_gradients(*m, lora->parameters(), micro, in_flight); });
  };
  const auto head = w.linear.at({n, model::Proj::kLmHead});
  auto remote = [&](int shards, const std::string& label, std::span<const veil::train::MicroBatch> micro,
                    int in_flight) {
    auto exec = std::make_shared<plain::RemoteExecutor>(workers(cfg, w.linear, shards), n, head);
    Measured r;
    r.step_ms = run(exec, label, micro, in_flight);
    const auto t = exec->total_traffic();
    std::int64_t tokens = 0;
    for (const auto& mb : micro) tokens += mb.input_ids.numel();
    r.bytes_per_token = static_cast<double>(t.bytes_sent + t.bytes_received) /
                        static_cast<double>(tokens * (o.warmup + o.steps));
    return r;
  };

  const double local_ms = run(std::make_shared<model::PlainExecutor>(w.linear), "local", one, 1);
  const auto rem = remote(1, "remote (1 worker)", one, 1);
  const auto seq2 = remote(2, "remote x2, sequential", two, 1);
  const auto pip2 = remote(2, "remote x2, pipelined", two, 2);
  std::printf("%s: local %.1f ms, remote %.1f ms (x%.2f), %.0f bytes/token; 2 workers, 2 micro-batches: "
              "sequential %.1f ms, pipelined %.1f ms (x%.2f)\n\n",
              name.c_str(), local_ms, rem.step_ms, rem.step_ms / local_ms, rem.bytes_per_token, seq2.step_ms,
              pip2.step_ms, pip2.step_ms / seq2.step_ms);
  return {{"layers", n},
          {"full_layers", full},
          {"seq", o.seq},
          {"local_step_ms", round3(local_ms)},
          {"remote_step_ms", round3(rem.step_ms)},
          {"remote_over_local", round3(rem.step_ms / local_ms)},
          {"bytes_per_token", std::round(rem.bytes_per_token)},
          {"bytes_per_token_per_layer", std::round(rem.bytes_per_token / n)},
          {"two_workers_sequential_ms", round3(seq2.step_ms)},
          {"two_workers_pipelined_ms", round3(pip2.step_ms)},
          {"pipelined_over_sequential", round3(pip2.step_ms / seq2.step_ms)}};
}

void usage() {
  std::puts(
      "bench_remote: per-step overhead of the plain design's remote executor against in-process\n"
      "  --model gpt2|llama1b|both   (default both)\n"
      "  --layers N                  layers (default gpt2 12 = full, llama1b 2 of 16)\n"
      "  --steps N                   timed steps (default 3, after 1 warm-up)\n"
      "  --seq N                     tokens per micro-batch (default 128)\n"
      "  --threads BLAS/OMP          thread pools (default cores/1)");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--model") {
        auto m = value();
        o.models = m == "both" ? std::vector<std::string>{"gpt2", "llama1b"} : std::vector<std::string>{m};
      } else if (a == "--layers") {
        o.layers = std::stoi(value());
      } else if (a == "--steps") {
        o.steps = std::max(1, std::stoi(value()));
      } else if (a == "--seq") {
        o.seq = std::max(2, std::stoi(value()));
      } else if (a == "--threads") {
        auto v = value();
        auto slash = v.find('/');
        if (slash == std::string::npos) throw std::invalid_argument("--threads expects BLAS/OMP, e.g. 2/1");
        o.blas = std::stoi(v.substr(0, slash));
        o.omp = std::stoi(v.substr(slash + 1));
      } else if (a == "--help" || a == "-h") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument("unknown argument '" + a + "' (see --help)");
      }
    }
    veil::runtime::configure_threads({o.blas, o.omp});
    json out = {{"bench", "transport"}, {"transport", "in-process"}, {"threads", veil::runtime::describe_threads()}};
    for (const auto& m : o.models) out[m] = bench_model(m, o);
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_remote: %s\n", e.what());
    return 1;
  }
}
