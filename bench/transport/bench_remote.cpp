// Transport benchmark: the per-step cost of running a model's block projections on workers (the
// `plain` design's RemoteExecutor) against running them in-process (PlainExecutor), over each
// wire, and the bytes each training token puts on the wire per party.
//
// Shapes: GPT-2-small (12 layers), Llama-3.2-1B (2 of its 16 layers by default: the per-layer
// figures are what matters and a full 1B model does not fit the time budget), both with random
// fp32 weights, and stories260K (the real checkpoint, $VEIL_SHARED_DIR/assets/models/stories260K-hf).
// LoRA r=8 alpha=16 on every linear layer except lm_head, 2 micro-batches of 1 x seq 128 per step,
// AdamW.
//
// For each shape, side by side in one process (the workers are servers in this same process, so
// their compute competes with the data owner's exactly as in-process workers do; what differs
// between rows is only the wire):
//   local          PlainExecutor, micro-batches one after the other (what the local design runs)
//   in-process     RemoteExecutor -> worker Service through the codec, no socket
//   grpc           gRPC over loopback, --insecure
//   grpc-mtls      gRPC over loopback, mutual TLS (certificates from veil's issuer, pki.h)
// each with 1 and 2 workers (layers split in halves), micro-batches pipelined (--in-flight, default
// 2, as `veil finetune --design plain` runs them). Prints medians over the timed steps, the ratios
// to local, bytes per token per party, then exactly one JSON line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "designs/plain/pipeline.h"
#include "designs/plain/remote_executor.h"
#include "designs/plain/worker.h"
#include "veil/model/presets.h"
#include "veil/model/causal_lm.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/runtime/threads.h"
#include "veil/train/trainer.h"
#include "veil/transport/connect.h"
#include "veil/transport/in_process.h"
#include "veil/transport/pki.h"
#include "veil/transport/serve.h"
#include "veil/transport/service.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace plain = veil::designs::plain;
namespace model = veil::model;
namespace transport = veil::transport;
namespace fs = std::filesystem;

struct Options {
  std::vector<std::string> models = {"gpt2", "stories260k"};
  std::vector<std::string> wires = {"in-process", "grpc", "grpc-mtls"};
  std::vector<int> worker_counts = {1, 2};
  int steps = 3, warmup = 1, layers = -1, in_flight = 2, micro = 2;
  std::int64_t seq = 128;
  int blas = 0, omp = 1;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    const auto comma = s.find(',', pos);
    out.push_back(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

// A CA and one certificate (veil://data-owner/bench, subjectAltName localhost and 127.0.0.1, for
// server and client use) that both sides present, made with veil's issuer (`veil cert issue`) in a
// temporary directory.
struct Certs {
  fs::path dir, ca, cert, key;
  ~Certs() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};
std::unique_ptr<Certs> make_certs() {
  auto c = std::make_unique<Certs>();
  c->dir = fs::temp_directory_path() / ("veil_bench_remote_" + std::to_string(::getpid()));
  fs::remove_all(c->dir);
  c->ca = transport::pki::init_ca(c->dir / "ca", {}).cert;
  transport::pki::CertRequest r;
  r.role = transport::Role::kDataOwner;
  r.name = "bench";
  r.dns = {"localhost"};
  r.ips = {"127.0.0.1"};
  r.days = 2;
  const auto f = transport::pki::issue_certificate(c->dir / "ca", r, c->dir / "party");
  c->cert = f.cert;
  c->key = f.key;
  return c;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double round3(double v) { return std::round(v * 1000) / 1000; }

fs::path stories_dir() {
  const char* d = std::getenv("VEIL_SHARED_DIR");
  const fs::path dir = fs::path(d ? d : "../shared") / "assets/models/stories260K-hf";
  if (!fs::exists(dir / "config.json"))
    throw std::invalid_argument("--model stories260k: no model at " + dir.string() + " (set VEIL_SHARED_DIR)");
  return dir;
}

model::ModelConfig make_config(const std::string& name, int layers) {
  model::ModelConfig c;
  if (name == "stories260k") {
    c = model::read_model(stories_dir()).config;
  } else if (name == "gpt2") {
    c = model::gpt2_small();
  } else if (name == "llama1b") {
    c = model::llama3_2_1b();
    c.rope_scaling.reset();  // the figures have always been measured without RoPE scaling
  } else {
    throw std::invalid_argument("--model takes gpt2, llama1b, stories260k (got '" + name + "')");
  }
  if (layers > 0) c.num_layers = std::min<std::int64_t>(layers, c.num_layers);
  c.validate();
  return c;
}

// Workers over `shards` contiguous layer ranges, each a Service with the plain handlers, reached
// over `wire`; gRPC servers listen on 127.0.0.1 with a free port and live as long as the pool.
struct Deployment {
  std::vector<std::unique_ptr<transport::Server>> servers;  // before the pool: destroyed after it
  transport::WorkerPool pool;
};
std::unique_ptr<Deployment> deploy(const model::ModelConfig& cfg, const model::LinearWeights& linear, int shards,
                                   const std::string& wire, const Certs* certs) {
  auto d = std::make_unique<Deployment>();
  std::vector<transport::WorkerPool::Worker> ws;
  const int n = static_cast<int>(cfg.num_layers);
  for (int i = 0; i < shards; ++i) {
    const int first = n * i / shards, last = n * (i + 1) / shards;
    auto svc = std::make_shared<transport::Service>("worker-" + std::to_string(i));
    plain::install_handlers(*svc, std::make_shared<const plain::LayerWeights>(cfg, linear, first, last));
    if (wire == "in-process") {
      ws.push_back({transport::connect_in_process(svc, transport::Peer::identified(transport::Role::kDataOwner, "bench")), first, last});
      continue;
    }
    transport::TlsConfig tls;
    if (wire == "grpc") {
      tls.insecure = true;
    } else {
      tls = {certs->cert, certs->key, certs->ca, false};
    }
    transport::ServeOptions so;
    so.address = "127.0.0.1:0";
    so.tls = tls;
    d->servers.push_back(transport::Server::start(svc, so));
    transport::ConnectOptions co;
    co.tls = tls;
    ws.push_back({transport::connect(d->servers.back()->address(), co), first, last});
  }
  d->pool = transport::WorkerPool(std::move(ws));
  return d;
}

json bench_model(const std::string& name, const Options& o, const Certs* certs) {
  auto cfg = make_config(name, o.layers > 0 ? o.layers : (name == "llama1b" ? 2 : 0));
  const auto full = make_config(name, 0).num_layers;
  model::ImportedWeights w;
  if (name == "stories260k") {
    w = model::read_model(stories_dir()).weights;
  } else {
    w = model::family_traits(cfg.family).import_weights(cfg, model::random_hf_weights(cfg, 1));
  }
  const int n = static_cast<int>(cfg.num_layers);
  std::printf("%s: %d/%lld layers, hidden %lld, %d micro-batches of 1 x seq %lld per step, in flight %d, %s\n",
              name.c_str(), n, static_cast<long long>(full), static_cast<long long>(cfg.hidden_size), o.micro,
              static_cast<long long>(o.seq), o.in_flight, veil::runtime::describe_threads().c_str());

  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  std::vector<veil::train::MicroBatch> micro;
  for (int i = 0; i < o.micro; ++i) {
    at::Tensor ids = at::randint(cfg.vocab_size, {1, o.seq}, gen, at::kLong);
    at::Tensor labels = at::full({1, o.seq}, -100, at::kLong);
    labels.narrow(1, 0, o.seq - 1).copy_(ids.narrow(1, 1, o.seq - 1));
    micro.push_back({ids, labels});
  }
  const double tokens = static_cast<double>(o.micro * o.seq * (o.warmup + o.steps));
  veil::train::OptimConfig oc;
  oc.lr = 1e-4;
  oc.total_steps = o.warmup + o.steps;

  // Every configuration is built first, then the steps go round-robin (one step of each in turn),
  // so that the load of a shared machine weighs on all of them alike.
  struct Config {
    std::string wire;
    int shards = 0;
    std::unique_ptr<Deployment> deployment;
    std::shared_ptr<plain::RemoteExecutor> remote;
    std::unique_ptr<model::CausalLM> model;
    std::shared_ptr<model::LoraAdapters> lora;
    std::unique_ptr<veil::train::Trainer> trainer;
    std::vector<double> times;
  };
  std::vector<Config> configs;
  auto add = [&](const std::string& wire, int shards) {
    Config c;
    c.wire = wire;
    c.shards = shards;
    std::shared_ptr<model::LinearExecutor> exec;
    if (shards == 0) {
      exec = std::make_shared<model::PlainExecutor>(w.linear);
    } else {
      c.deployment = deploy(cfg, w.linear, shards, wire, certs);
      c.remote = std::make_shared<plain::RemoteExecutor>(c.deployment->pool, n, w.linear.at({n, model::Proj::kLmHead}));
      exec = c.remote;
    }
    c.model = model::build_model(cfg, w.params, exec);
    c.lora = std::make_shared<model::LoraAdapters>(cfg, model::LoraConfig{}, 2);
    c.model->set_lora(c.lora);
    c.trainer = std::make_unique<veil::train::Trainer>(*c.model, c.lora->parameters(), oc);
    configs.push_back(std::move(c));
  };
  add("local", 0);
  for (const auto& wire : o.wires)
    for (int shards : o.worker_counts)
      if (shards <= n) add(wire, shards);
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    for (auto& c : configs) {
      const int in_flight = c.shards == 0 ? 1 : o.in_flight;
      auto t0 = Clock::now();
      auto st = c.trainer->step_with(
          [&] { return plain::micro_batch_gradients(*c.model, c.lora->parameters(), micro, in_flight); });
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      std::printf("  %-12s %d worker(s) %s %d: %9.2f ms  loss %.4f\n", c.wire.c_str(), c.shards,
                  i < o.warmup ? "warmup" : "step  ", i, ms, st.loss);
      std::fflush(stdout);
      if (i >= o.warmup) c.times.push_back(ms);
    }
  }

  const double local_ms = median(configs[0].times);
  json rows = json::array();
  rows.push_back({{"wire", "local"}, {"workers", 0}, {"step_ms", round3(local_ms)}, {"over_local", 1.0}});
  std::vector<std::string> lines;
  for (std::size_t k = 1; k < configs.size(); ++k) {
    const auto& c = configs[k];
    const double ms = median(c.times);
    const auto total = c.remote->total_traffic();
    json per_worker = json::array();
    std::string per_worker_text;
    for (const auto& t : c.remote->traffic()) {
      const double bpt = std::round(static_cast<double>(t.traffic.bytes_sent + t.traffic.bytes_received) / tokens);
      per_worker.push_back(bpt);
      per_worker_text += (per_worker_text.empty() ? "" : " + ") + std::to_string(static_cast<long long>(bpt));
    }
    const double owner = std::round(static_cast<double>(total.bytes_sent + total.bytes_received) / tokens);
    rows.push_back({{"wire", c.wire},
                    {"workers", c.shards},
                    {"step_ms", round3(ms)},
                    {"over_local", round3(ms / local_ms)},
                    {"data_owner_bytes_per_token", owner},
                    {"worker_bytes_per_token", per_worker},
                    {"calls_per_step", static_cast<double>(total.calls) / (o.warmup + o.steps)}});
    char line[256];
    std::snprintf(line, sizeof line, "| %-10s | %d | %9.2f | x%6.2f | %10.0f | %s |", c.wire.c_str(), c.shards, ms,
                  ms / local_ms, owner, per_worker_text.c_str());
    lines.push_back(line);
  }
  std::printf("\n%s (median of %d steps, taken round-robin; bytes per token = sent + received, encoded, per party)\n", name.c_str(),
              o.steps);
  std::printf("| wire       | workers | step ms | vs local | data owner B/token | each worker B/token |\n");
  std::printf("| local      | 0 | %9.2f | x%6.2f | %10s | %s |\n", local_ms, 1.0, "-", "-");
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  std::printf("\n");
  return {{"layers", n}, {"full_layers", full}, {"hidden", cfg.hidden_size}, {"seq", o.seq},
          {"micro_batches", o.micro}, {"in_flight", o.in_flight}, {"local_step_ms", round3(local_ms)}, {"rows", rows}};
}

void usage() {
  std::puts(
      "bench_remote: per-step cost of the plain design's remote executor over each wire, against local\n"
      "  --model LIST        gpt2, llama1b, stories260k, comma-separated (default gpt2,stories260k)\n"
      "  --wire LIST         in-process, grpc, grpc-mtls (default all)\n"
      "  --workers LIST      worker counts (default 1,2)\n"
      "  --layers N          layers (default: all; llama1b 2 of 16)\n"
      "  --steps N           timed steps (default 3, after 1 warm-up)\n"
      "  --seq N             tokens per micro-batch (default 128)\n"
      "  --micro N           micro-batches per step (default 2)\n"
      "  --in-flight N       micro-batches in flight on remote runs (default 2)\n"
      "  --threads BLAS/OMP  thread pools (default cores/1)");
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
        o.models = split_list(value());
        if (o.models == std::vector<std::string>{"both"}) o.models = {"gpt2", "llama1b"};
      } else if (a == "--wire") {
        o.wires = split_list(value());
        for (const auto& wv : o.wires)
          if (wv != "in-process" && wv != "grpc" && wv != "grpc-mtls")
            throw std::invalid_argument("--wire takes in-process, grpc, grpc-mtls (got '" + wv + "')");
      } else if (a == "--workers") {
        o.worker_counts.clear();
        for (const auto& c : split_list(value())) o.worker_counts.push_back(std::max(1, std::stoi(c)));
      } else if (a == "--micro") {
        o.micro = std::max(1, std::stoi(value()));
      } else if (a == "--in-flight") {
        o.in_flight = std::max(1, std::stoi(value()));
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
    std::unique_ptr<Certs> certs;
    if (std::find(o.wires.begin(), o.wires.end(), "grpc-mtls") != o.wires.end()) certs = make_certs();
    json out = {{"bench", "transport"}, {"wires", o.wires}, {"threads", veil::runtime::describe_threads()}};
    for (const auto& m : o.models) out[m] = bench_model(m, o, certs.get());
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_remote: %s\n", e.what());
    return 1;
  }
}
