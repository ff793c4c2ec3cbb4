// obfuscatune's overhead: LoRA training step time of the enclave + in-process worker against the
// plain design, side by side in one run (steps interleaved round-robin so that load on a shared
// machine hits every variant alike), for GPT-2-small and Llama-3.2-1B shapes. Also times the
// transforms alone (x·R for a [tokens, d] activation) and a κ sweep of the logits' error.
//
//   bench_obfuscatune [--model gpt2|llama1b|both] [--layers N] [--vocab V] [--steps N] [--warmup N] [--seq T]
//                     [--batch B] [--dense-full] [--variants plain,kronecker-full,...] [--no-transform-timing]
//                     [--workers HOST:PORT [--tls-cert C --tls-key K --tls-ca CA | --insecure]]
//   bench_obfuscatune --kappa-sweep MODEL_DIR     (error of the logits against plain, per matrix)
//
// The shapes keep their widths; layers and vocabulary are cut (defaults: 2 and 1 layers, vocab
// 4096) so that a run fits a 2-core machine. Embeddings and LM head are identical work in both
// designs, so cutting them makes the ratio larger, not smaller. Ends with one JSON line.
//
// --workers: the obfuscatune variant's projections run on `veil worker --design obfuscatune` at
// that address (another process; mutual TLS unless --insecure), this process standing for the
// enclave; plain stays in process. A worker holds one run's weights, so give --variants with
// plain and one obfuscatune variant.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/obfuscatune/secret_rng.h"
#include "veil/designs/registry.h"
#include "veil/model/presets.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"
#include "veil/runtime/allocator.h"
#include "veil/runtime/float_env.h"
#include "veil/runtime/threads.h"
#include "veil/train/finetune.h"
#include "veil/train/trainer.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace obf = veil::designs::obfuscatune;

struct Options {
  std::vector<std::string> models = {"gpt2", "llama1b"};
  int layers = -1, steps = 5, seq = 128, batch = 2;
  // Untimed rounds first: the allocator's heap grows to its working set over the first few
  // steps (each fresh page a minor fault), which a short run would otherwise time.
  int warmup = 3;
  std::int64_t vocab = 4096;
  bool dense_full = false;
  bool transform_timing = true;  // --no-transform-timing skips the transforms-alone section
  std::string sweep_model;  // --kappa-sweep DIR: error of the logits against plain, per matrix
  std::vector<std::string> only;  // --variants: run these (plain always first)
  veil::train::PartyOptions parties;  // --workers: a worker process instead of in-process ones
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos <= s.size();) {
    const auto comma = s.find(',', pos);
    const auto item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }
double round3(double v) { return std::round(v * 1000) / 1000; }

// Minor page faults of this process so far: a step that maps fresh memory (a block above glibc's
// mmap threshold allocated per step) pays them in the kernel, which the step time hides.
long long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// The 1-minute load average (/proc/loadavg), -1 when unreadable: printed at start and end, since
// every ratio here depends on what else the machine runs.
double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return f ? l : -1;
}

veil::model::ModelConfig make_config(const std::string& name, int layers, std::int64_t vocab) {
  veil::model::ModelConfig c;
  if (name == "gpt2") {
    c = veil::model::gpt2_small();
    c.num_layers = 2;
  } else if (name == "llama1b") {
    c = veil::model::llama3_2_1b();
    c.num_layers = 1;
    c.rope_scaling.reset();  // the figures have always been measured without RoPE scaling
  } else {
    throw std::invalid_argument("--model must be gpt2, llama1b or both (got '" + name + "')");
  }
  c.vocab_size = vocab;
  c.tie_word_embeddings = true;
  if (layers > 0) c.num_layers = layers;
  c.validate();
  return c;
}

veil::model::ModelFiles random_files(const veil::model::ModelConfig& cfg) {
  return {cfg, veil::model::family_traits(cfg.family).import_weights(cfg, veil::model::random_hf_weights(cfg, 1))};
}

struct Variant {
  std::string name;
  std::map<std::string, std::string> opts;  // empty name "plain": the plain design
};

json run_model(const Options& o, const std::string& name) {
  const auto cfg = make_config(name, o.layers, o.vocab);
  std::vector<Variant> variants{
      {"plain", {}},
      {"kronecker-paper", {{"matrix", "kronecker"}, {"variant", "paper"}}},
      {"kronecker-matched", {{"matrix", "kronecker"}, {"variant", "matched"}}},
      {"kronecker-matched-mlpfull", {{"matrix", "kronecker"}, {"variant", "matched"}, {"mlp", "full"}}},
      {"kronecker-full", {{"matrix", "kronecker"}, {"variant", "full"}}},
      {"kronecker-matched+freivalds", {{"matrix", "kronecker"}, {"variant", "matched"}, {"freivalds", "1"}}},
      {"kronecker-full+freivalds", {{"matrix", "kronecker"}, {"variant", "full"}, {"freivalds", "1"}}},
      {"dense-paper", {{"matrix", "orthogonal"}, {"variant", "paper"}}},
      {"dense-matched", {{"matrix", "orthogonal"}, {"variant", "matched"}}},
      {"hadamard-paper", {{"matrix", "hadamard"}, {"variant", "paper"}}},
      {"hadamard-matched", {{"matrix", "hadamard"}, {"variant", "matched"}}},
      {"hadamard-full", {{"matrix", "hadamard"}, {"variant", "full"}}}};
  if (name == "gpt2" || o.dense_full) variants.push_back({"dense-full", {{"matrix", "orthogonal"}, {"variant", "full"}}});
  if (!o.only.empty()) {
    std::vector<Variant> kept{variants.front()};
    for (const auto& want : o.only) {
      if (want == "plain") continue;
      auto it = std::find_if(variants.begin(), variants.end(), [&](const Variant& v) { return v.name == want; });
      if (it == variants.end()) throw std::invalid_argument("--variants: unknown variant " + want);
      kept.push_back(*it);
    }
    variants = kept;
  }
  if (!o.parties.workers.empty() && variants.size() != 2)
    throw std::invalid_argument("--workers: give --variants with plain and exactly one obfuscatune variant");

  struct Built {
    Variant v;
    veil::model::LoadedModel plain;
    std::unique_ptr<obf::ObfuscatuneEnclave> enclave;
    std::shared_ptr<veil::model::LoraAdapters> lora;
    std::unique_ptr<veil::train::Trainer> trainer;
    std::vector<double> ms;
    long long faults = 0;  // minor page faults over the timed steps
    double setup_s = 0;
    obf::ExecutorStats after_warmup;
    veil::model::CausalLM& model() { return enclave ? enclave->model() : *plain.model; }
  };
  std::vector<Built> built;
  veil::train::OptimConfig oc;
  oc.lr = 1e-4;
  oc.total_steps = o.steps + o.warmup;
  for (const auto& v : variants) {
    Built b;
    b.v = v;
    auto t0 = Clock::now();
    b.lora = std::make_shared<veil::model::LoraAdapters>(cfg, veil::model::LoraConfig{}, 2);
    if (v.name == "plain") {
      auto files = random_files(cfg);
      b.plain.executor = std::make_shared<veil::model::PlainExecutor>(std::move(files.weights.linear));
      b.plain.model = veil::model::build_model(cfg, std::move(files.weights.params), b.plain.executor);
      b.plain.model->set_lora(b.lora);
    } else {
      auto pool = veil::designs::open_workers("obfuscatune", o.parties, {}, static_cast<int>(cfg.num_layers));
      b.enclave = std::make_unique<obf::ObfuscatuneEnclave>(random_files(cfg), obf::ObfuscatuneOptions::parse(v.opts),
                                                            std::move(pool), b.lora);
    }
    b.setup_s = ms_since(t0) / 1000;
    b.trainer = std::make_unique<veil::train::Trainer>(b.model(), b.lora->parameters(), oc);
    std::printf("%s %-24s set up in %.1f s\n", name.c_str(), v.name.c_str(), b.setup_s);
    std::fflush(stdout);
    built.push_back(std::move(b));
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor ids = at::randint(cfg.vocab_size, {o.batch, o.seq + 1}, gen, at::kLong);
  std::vector<veil::train::MicroBatch> micro{{ids.narrow(1, 0, o.seq).clone(), ids.narrow(1, 1, o.seq).clone()}};
  for (int i = 1 - o.warmup; i <= o.steps; ++i)  // round-robin; rounds up to 0 are warm-up
    for (auto& b : built) {
      const auto f0 = minor_faults();
      auto t0 = Clock::now();
      (void)b.trainer->step(micro);
      if (i > 0) {
        b.ms.push_back(ms_since(t0));
        b.faults += minor_faults() - f0;
      }
      if (i == 0 && b.enclave) b.after_warmup = b.enclave->executor().stats();
    }
  json out = {{"model", name}, {"layers", cfg.num_layers}, {"vocab", cfg.vocab_size},
              {"worker", o.parties.workers.empty() ? "in-process" : o.parties.workers.front()},
              {"tokens_per_step", o.batch * o.seq}, {"variants", json::object()}};
  const double plain_ms = median(built[0].ms);
  for (auto& b : built) {
    const double m = median(b.ms);
    double enclave_ms = 0, worker_ms = 0;
    const double faults = static_cast<double>(b.faults) / o.steps;
    json j = {{"step_ms", round3(m)}, {"ratio", round3(m / plain_ms)}, {"setup_s", round3(b.setup_s)},
              {"minor_faults_per_step", faults}};
    if (b.enclave) {
      auto rep = b.enclave->report();
      j["bytes_per_token"] = round3(rep.at("bytes_per_token").get<double>());
      j["enclave_secret_mb"] = round3(rep.at("enclave_secret_bytes").get<double>() / 1e6);
      // Mean per timed step: the executor's own work in the enclave (transforms, checks, copies)
      // and its worker calls (the worker's products, codec and transport).
      const auto& st = b.enclave->executor().stats();
      enclave_ms = (st.enclave_seconds - b.after_warmup.enclave_seconds) * 1e3 / o.steps;
      worker_ms = (st.worker_seconds - b.after_warmup.worker_seconds) * 1e3 / o.steps;
      j["executor_enclave_ms"] = round3(enclave_ms);
      j["executor_worker_ms"] = round3(worker_ms);
    }
    std::printf("%s %-24s median step %8.1f ms  ratio %.3f  faults/step %.0f", name.c_str(), b.v.name.c_str(), m,
                m / plain_ms, faults);
    if (b.enclave) std::printf("  (executor: enclave %.1f ms, worker calls %.1f ms per step)", enclave_ms, worker_ms);
    std::printf("\n");
    out["variants"][b.v.name] = j;
  }
  if (!o.transform_timing) return out;
  // The transforms alone on one [tokens, d] activation (d = hidden and MLP width).
  obf::SecretRng rng;
  json tr = json::object();
  for (std::int64_t d : {cfg.hidden_size, cfg.intermediate_size}) {
    at::Tensor x = at::randn({o.batch * o.seq, d});
    for (auto kind : {obf::MatrixKind::kOrthogonal, obf::MatrixKind::kHadamard, obf::MatrixKind::kKronecker}) {
      auto t = obf::SecretTransform::draw(kind, d, 1, rng);
      std::vector<double> ms;
      for (int i = 0; i < 7; ++i) {
        auto t0 = Clock::now();
        (void)t.apply(x, obf::Side::kR);
        ms.push_back(ms_since(t0));
      }
      tr[std::string(obf::to_string(kind)) + "_d" + std::to_string(d) + "_ms"] = round3(median(ms));
    }
    at::Tensor w = at::randn({d, d});
    std::vector<double> ms;
    for (int i = 0; i < 7; ++i) {
      auto t0 = Clock::now();
      (void)at::matmul(x, w);
      ms.push_back(ms_since(t0));
    }
    tr["gemm_dxd_d" + std::to_string(d) + "_ms"] = round3(median(ms));
  }
  out["transform_only"] = tr;
  std::cout << "  transforms: " << tr.dump() << "\n";
  return out;
}

// Max relative error of the logits (and of the mean loss) against the plain model, per matrix.
json kappa_sweep(const std::string& dir) {
  auto plain = veil::model::load_model(dir);
  const auto& cfg = plain.model->config();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  at::Tensor ids = at::randint(cfg.vocab_size, {4, 33}, gen, at::kLong);
  at::NoGradGuard g;
  at::Tensor want = plain.model->forward(ids).to(at::kDouble);
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> rows{
      {"orthogonal (kappa 1)", {{"matrix", "orthogonal"}}}, {"kronecker", {}}, {"hadamard", {{"matrix", "hadamard"}}}};
  for (const char* k : {"10", "100", "1000", "10000"}) rows.push_back({std::string("kappa ") + k, {{"kappa", k}}});
  rows.push_back({"gaussian (paper's naive)", {{"matrix", "gaussian"}}});
  json out = json::array();
  for (const auto& [name, opts] : rows) {
    std::vector<double> errs;
    for (int rep = 0; rep < 3; ++rep) {  // fresh matrices each time; the median of three draws
      auto pool = veil::designs::open_workers("obfuscatune", {}, {}, static_cast<int>(cfg.num_layers));
      obf::ObfuscatuneEnclave e(veil::model::read_model(dir), obf::ObfuscatuneOptions::parse(opts), std::move(pool),
                                nullptr);
      at::Tensor got = e.model().forward(ids).to(at::kDouble);
      errs.push_back(((got - want).abs().max() / want.abs().max()).item<double>());
    }
    std::printf("  %-26s max relative logit error %.2e\n", name.c_str(), median(errs));
    out.push_back({{"matrix", name}, {"max_rel_logit_error", median(errs)}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Across processes this program is the enclave calling a worker: as `veil` does for such
  // parties, keep OpenBLAS's idle threads from spinning on the worker's cores.
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--workers") veil::runtime::reexec_with_short_blas_spin(argv);
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--model") {
        auto m = next();
        o.models = m == "both" ? std::vector<std::string>{"gpt2", "llama1b"} : std::vector<std::string>{m};
      } else if (a == "--layers") o.layers = std::stoi(next());
      else if (a == "--steps") o.steps = std::stoi(next());
      else if (a == "--warmup") o.warmup = std::stoi(next());
      else if (a == "--seq") o.seq = std::stoi(next());
      else if (a == "--batch") o.batch = std::stoi(next());
      else if (a == "--vocab") o.vocab = std::stoll(next());
      else if (a == "--dense-full") o.dense_full = true;
      else if (a == "--no-transform-timing") o.transform_timing = false;
      else if (a == "--kappa-sweep") o.sweep_model = next();
      else if (a == "--variants") o.only = split_commas(next());
      else if (a == "--workers") o.parties.workers = split_commas(next());
      else if (a == "--tls-cert") o.parties.tls_cert = next();
      else if (a == "--tls-key") o.parties.tls_key = next();
      else if (a == "--tls-ca") o.parties.tls_ca = next();
      else if (a == "--tls-server-name") o.parties.tls_server_name = next();
      else if (a == "--insecure") o.parties.insecure = true;
      else throw std::invalid_argument("unknown argument " + a);
    }
    if (o.steps < 1 || o.warmup < 1 || o.seq < 1 || o.batch < 1 || o.vocab < 2) throw std::invalid_argument("bad sizes");
    veil::runtime::configure_threads({});
    const auto allocator = veil::runtime::keep_freed_memory();  // as the veil CLI does
    (void)veil::runtime::flush_denormals();                     // likewise
    veil::designs::register_builtin_designs();
    const double load_start = load_average();
    std::printf("bench obfuscatune: %s, malloc %s, batch %d x seq %d, %d steps, load %.2f\n",
                veil::runtime::describe_threads().c_str(), allocator.c_str(), o.batch, o.seq, o.steps, load_start);
    json all = {{"bench", "obfuscatune"}, {"threads", veil::runtime::describe_threads()}, {"models", json::array()}};
    if (!o.sweep_model.empty()) {
      all["kappa_sweep"] = {{"model", o.sweep_model}, {"rows", kappa_sweep(o.sweep_model)}};
    } else {
      for (const auto& m : o.models) all["models"].push_back(run_model(o, m));
    }
    const double load_end = load_average();
    std::printf("load %.2f -> %.2f\n", load_start, load_end);
    all["load_average"] = {round3(load_start), round3(load_end)};
    std::cout << all.dump() << std::endl;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_obfuscatune: %s\n", e.what());
    return 1;
  }
  return 0;
}
