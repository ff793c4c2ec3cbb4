// Engine benchmark: LoRA fine-tuning throughput and KV-cached generation speed of Veil's plain
// engine, side by side with the same step in PyTorch eager (bench/engine/pytorch_lora.py).
//
// Shapes: GPT-2-small and Llama-3.2-1B (optionally fewer layers, the same count on both sides),
// random fp32 weights, LoRA r=8 alpha=16 on every linear layer except lm_head, batch 1 x seq 256,
// AdamW. Generation: 32-token prompt, 32 new tokens, greedy.
//
// Every measurement runs in its own process (this program re-executes itself with --child, the
// PyTorch side is a python3 subprocess), so each peak RSS is clean and each process sets its own
// thread pools: Veil through veil::runtime::configure_threads({blas, omp}), PyTorch through
// OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and --threads. With --threads-sweep every side tries the
// blas/omp combinations {N/1, 1/1, N/N, 1/N} (N = cores) and is reported at its best.
//
// Prints human-readable lines, then exactly one JSON line of figures.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "veil/model/presets.h"
#include "veil/model/causal_lm.h"
#include "veil/model/config.h"
#include "veil/model/family.h"
#include "veil/model/generate.h"
#include "veil/model/linear_executor.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/runtime/allocator.h"
#include "veil/runtime/float_env.h"
#include "veil/runtime/threads.h"
#include "veil/train/loss.h"
#include "veil/train/trainer.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#ifndef VEIL_BENCH_PYTORCH_SCRIPT
#define VEIL_BENCH_PYTORCH_SCRIPT "bench/engine/pytorch_lora.py"
#endif

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kPython = "/usr/bin/python3";
constexpr std::int64_t kSeq = 256, kBatch = 1, kPromptTokens = 32;

struct Options {
  std::vector<std::string> models = {"gpt2", "llama1b"};
  int steps = -1, warmup = 1, layers = -1, gen_tokens = 32;
  int rounds = 1;  // --rounds N: the whole interleaved sequence N times; per setting the medians
  bool sweep = false, python = true, json_only = false, breakdown = false;
  std::string op_trace;  // --op-trace FILE: a Chrome trace of one more training step (libtorch profiler)
  // Thread settings used without --threads-sweep (0: number of cores), as "blas/omp".
  int veil_blas = 0, veil_omp = 1, torch_blas = 0, torch_omp = 1;
  // Child mode (hidden): run one Veil measurement and print its JSON line.
  bool child = false;
  std::string child_model;
  int child_blas = 0, child_omp = 0;
};

int cores() { return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Default steps and layers per model: a full run (both models, both sides) stays under ~8 minutes
// on the 2-core development machine.
int default_steps(const std::string& m) { return m == "gpt2" ? 5 : 3; }
int default_layers(const std::string& m) { return m == "gpt2" ? 12 : 2; }

veil::model::ModelConfig make_config(const std::string& name, int layers) {
  veil::model::ModelConfig c;
  if (name == "gpt2") {
    c = veil::model::gpt2_small();
  } else if (name == "llama1b") {
    c = veil::model::llama3_2_1b();
    c.rope_scaling.reset();  // the figures have always been measured without RoPE scaling
  } else {
    throw std::invalid_argument("--model must be gpt2, llama1b or both (got '" + name + "')");
  }
  if (layers > 0) c.num_layers = layers;
  c.validate();
  return c;
}

double round3(double v) { return std::round(v * 1000) / 1000; }

// ---- child: one Veil measurement ------------------------------------------------------------

// Forward+loss / backward / optimizer split of a training step (timing hooks, --breakdown).
json breakdown_steps(veil::model::CausalLM& model, veil::model::LoraAdapters& lora, const at::Tensor& ids,
                     const at::Tensor& labels, int steps) {
  auto params = lora.parameters();
  std::vector<double> fwd, bwd;
  for (int i = 0; i < steps + 1; ++i) {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    model.set_training(true);
    auto t0 = Clock::now();
    auto l = veil::train::causal_lm_loss(model, ids, labels);
    auto scaled = l.sum / static_cast<double>(l.targets);
    (void)scaled.item<double>();
    double f = ms_since(t0);
    t0 = Clock::now();
    scaled.backward();
    double b = ms_since(t0);
    if (i > 0) {
      fwd.push_back(f);
      bwd.push_back(b);
    }
  }
  model.set_training(false);
  return {{"forward_loss_ms", round3(median(fwd))}, {"backward_ms", round3(median(bwd))}};
}

long long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

int run_child(const Options& o) {
  const auto threads = veil::runtime::configure_threads({o.child_blas, o.child_omp});
  const auto allocator = veil::runtime::keep_freed_memory();
  const auto denormals = veil::runtime::flush_denormals();
  const int layers = o.layers > 0 ? o.layers : default_layers(o.child_model);
  const int steps = o.steps > 0 ? o.steps : default_steps(o.child_model);
  auto cfg = make_config(o.child_model, layers);
  const auto full_layers = make_config(o.child_model, 0).num_layers;

  auto t0 = Clock::now();
  auto weights = veil::model::family_traits(cfg.family).import_weights(cfg, veil::model::random_hf_weights(cfg, 1));
  auto executor = std::make_shared<veil::model::PlainExecutor>(std::move(weights.linear));
  auto model = veil::model::build_model(cfg, std::move(weights.params), executor);
  auto lora = std::make_shared<veil::model::LoraAdapters>(cfg, veil::model::LoraConfig{}, 2);
  model->set_lora(lora);
  const double build_s = ms_since(t0) / 1000;
  const double build_rss_mb = static_cast<double>(veil::runtime::peak_rss_bytes()) / (1024.0 * 1024.0);
  const auto base_params = cfg.num_parameters();
  std::printf("veil %s: %d/%lld layers, base %.1fM frozen, LoRA %.3fM trainable (r=8, alpha=16), %s, malloc %s, denormals %s, built in %.1fs (peak RSS %.0f MB)\n",
              o.child_model.c_str(), layers, static_cast<long long>(full_layers), base_params / 1e6,
              lora->num_parameters() / 1e6, veil::runtime::describe_threads().c_str(), allocator.c_str(), denormals.c_str(), build_s, build_rss_mb);
  std::fflush(stdout);

  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor ids = at::randint(cfg.vocab_size, {kBatch, kSeq}, gen, at::kLong);
  at::Tensor labels = at::full({kBatch, kSeq}, -100, at::kLong);
  labels.narrow(1, 0, kSeq - 1).copy_(ids.narrow(1, 1, kSeq - 1));  // label at t = token at t+1

  veil::train::OptimConfig oc;
  oc.lr = 1e-4;
  oc.weight_decay = 0.01;  // torch.optim.AdamW's default, as on the PyTorch side
  oc.max_grad_norm = 0;    // PyTorch side does not clip
  oc.total_steps = o.warmup + steps;
  veil::train::Trainer trainer(*model, lora->parameters(), oc);
  std::vector<veil::train::MicroBatch> micro{{ids, labels}};
  std::vector<double> times;
  double loss = 0;
  for (int i = 0; i < o.warmup + steps; ++i) {
    const auto faults0 = minor_faults();
    auto ts = Clock::now();
    auto st = trainer.step(micro);
    const double dt = ms_since(ts);
    loss = st.loss;
    const bool warm = i < o.warmup;
    // Minor page faults: each is a fresh page the allocator took from the kernel during the step.
    std::printf("  %s %d: %.0f ms, loss %.4f, %lld page faults\n", warm ? "warmup" : "step", i, dt, loss,
                minor_faults() - faults0);
    std::fflush(stdout);
    if (!warm) times.push_back(round3(dt));
  }
  const double step_ms = median(times);
  const double train_tps = kBatch * kSeq / (step_ms / 1000);
  std::printf("train: median step %.0f ms, %.1f tokens/s (batch %lld x seq %lld)\n", step_ms, train_tps,
              static_cast<long long>(kBatch), static_cast<long long>(kSeq));

  if (!o.op_trace.empty()) {  // one more step under libtorch's profiler, outside the timings
    torch::autograd::profiler::RecordProfile guard(o.op_trace);
    (void)trainer.step(micro);
  }

  json bd;
  if (o.breakdown) {
    bd = breakdown_steps(*model, *lora, ids, labels, steps);
    std::printf("breakdown: forward+loss %.0f ms, backward %.0f ms, optimizer+rest %.0f ms\n",
                bd["forward_loss_ms"].get<double>(), bd["backward_ms"].get<double>(),
                step_ms - bd["forward_loss_ms"].get<double>() - bd["backward_ms"].get<double>());
  }

  // Generation: 32-token prompt, greedy, KV cache.
  at::Tensor prompt_t = at::randint(cfg.vocab_size, {kPromptTokens}, gen, at::kLong);
  std::vector<std::int64_t> prompt(prompt_t.data_ptr<std::int64_t>(), prompt_t.data_ptr<std::int64_t>() + kPromptTokens);
  veil::model::GenerationConfig gc;
  gc.max_new_tokens = o.gen_tokens;
  std::optional<Clock::time_point> first;
  auto g0 = Clock::now();
  auto out = veil::model::generate(*model, prompt, gc, [&](std::int64_t) {
    if (!first) first = Clock::now();
    return true;
  });
  auto g1 = Clock::now();
  const double prefill_ms = std::chrono::duration<double, std::milli>(*first - g0).count();
  const double decode_s = std::chrono::duration<double>(g1 - *first).count();
  const auto n = static_cast<double>(out.size());
  const double decode_tps = n > 1 ? (n - 1) / decode_s : 0;
  const double gen_tps = n / std::chrono::duration<double>(g1 - g0).count();
  std::printf("generate: prefill %lld tokens %.0f ms, decode %.2f tokens/s, %zu new tokens end to end %.2f tokens/s\n",
              static_cast<long long>(kPromptTokens), prefill_ms, decode_tps, out.size(), gen_tps);
  const double rss_mb = static_cast<double>(veil::runtime::peak_rss_bytes()) / (1024.0 * 1024.0);
  std::printf("peak RSS %.0f MB\n", rss_mb);

  json j = {{"bench", "engine/veil"}, {"impl", "veil"}, {"model", o.child_model}, {"layers", layers},
            {"full_layers", full_layers}, {"blas", threads.blas}, {"omp", threads.omp}, {"steps", steps},
            {"warmup", o.warmup}, {"step_ms_median", round3(step_ms)}, {"step_ms", times},
            {"train_tokens_per_s", round3(train_tps)}, {"final_loss", loss}, {"gen_tokens", out.size()},
            {"prefill_ms", round3(prefill_ms)}, {"decode_tokens_per_s", round3(decode_tps)},
            {"gen_tokens_per_s", round3(gen_tps)}, {"peak_rss_mb", round3(rss_mb)}, {"build_peak_rss_mb", round3(build_rss_mb)}, {"lora_params", lora->num_parameters()}};
  if (o.breakdown) j["breakdown"] = bd;
  std::fflush(stdout);
  std::cout << j.dump() << std::endl;
  return 0;
}

// ---- parent: run the children and compare -------------------------------------------------

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `cmd` through the shell, echoing its lines (unless quiet); returns its last JSON line.
std::optional<json> run_json(const std::string& cmd, bool quiet, const std::string& prefix) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return std::nullopt;
  std::string line, last_json;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    line.pop_back();
    if (!line.empty() && line.front() == '{') {
      last_json = line;
    } else if (!quiet) {
      std::printf("%s%s\n", prefix.c_str(), line.c_str());
      std::fflush(stdout);
    }
    line.clear();
  }
  const int status = ::pclose(p);
  if (status != 0 || last_json.empty()) {
    std::fprintf(stderr, "bench_engine: '%s' failed (status %d)\n", cmd.c_str(), status);
    return std::nullopt;
  }
  try {
    return json::parse(last_json);
  } catch (const json::exception& e) {
    std::fprintf(stderr, "bench_engine: bad JSON from '%s': %s\n", cmd.c_str(), e.what());
    return std::nullopt;
  }
}

struct Combo {
  int blas, omp;
  [[nodiscard]] std::string name() const { return std::to_string(blas) + "/" + std::to_string(omp); }
};

std::optional<json> run_veil(const Options& o, const std::string& model, Combo c, int layers, int steps) {
  // Re-executes this program (the path of /proc/self/exe, resolved here: in the shell it is the shell).
  char exe[4096];
  const auto n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw std::runtime_error("cannot resolve /proc/self/exe");
  std::ostringstream cmd;
  cmd << quote(std::string(exe, static_cast<std::size_t>(n))) << " --child " << model << " --blas " << c.blas
      << " --omp " << c.omp << " --layers " << layers << " --steps " << steps << " --warmup " << o.warmup
      << " --gen-tokens " << o.gen_tokens << (o.breakdown ? " --breakdown" : "");
  if (!o.op_trace.empty()) cmd << " --op-trace " << quote(o.op_trace + "." + model);
  const std::string s = cmd.str();
  return run_json(s, o.json_only, "  [veil " + c.name() + "] ");
}

std::optional<json> run_torch(const Options& o, const std::string& model, Combo c, int layers, int steps) {
  std::ostringstream cmd;
  cmd << "OMP_NUM_THREADS=" << c.omp << " OPENBLAS_NUM_THREADS=" << c.blas << " " << kPython << " "
      << quote(VEIL_BENCH_PYTORCH_SCRIPT) << " --model " << model << " --threads " << c.omp << " --layers "
      << layers << " --steps " << steps << " --warmup " << o.warmup << " --gen-tokens " << o.gen_tokens
      << " --seq " << kSeq << " --batch " << kBatch << " --prompt-tokens " << kPromptTokens;
  return run_json(cmd.str(), o.json_only, "  [torch " + c.name() + "] ");
}

bool python_available() {
  const std::string cmd = std::string(kPython) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 && ::access(VEIL_BENCH_PYTORCH_SCRIPT, R_OK) == 0;
}

// The run with the highest value of `key`.
const json* best_by(const std::vector<json>& runs, const char* key) {
  const json* best = nullptr;
  for (const auto& r : runs)
    if (!best || r.at(key).get<double>() > best->at(key).get<double>()) best = &r;
  return best;
}

json summary(const json& r) {
  return {{"threads", std::to_string(r.value("blas", 0)) + "/" + std::to_string(r.value("omp", r.value("threads", 0)))},
          {"step_ms_median", r.at("step_ms_median")},
          {"train_tokens_per_s", r.at("train_tokens_per_s")},
          {"gen_tokens_per_s", r.at("gen_tokens_per_s")},
          {"decode_tokens_per_s", r.at("decode_tokens_per_s")},
          {"prefill_ms", r.at("prefill_ms")},
          {"peak_rss_mb", r.at("peak_rss_mb")}};
}

json summary_with_rounds(const json& r) {
  json s = summary(r);
  if (r.contains("train_tokens_per_s_rounds")) s["train_tokens_per_s_rounds"] = r.at("train_tokens_per_s_rounds");
  return s;
}

// One thread setting measured in several rounds: medians of the timings, the largest peak RSS,
// and the per-round training throughputs for the record.
json merge_rounds(const std::vector<json>& runs) {
  json out = runs.front();
  if (runs.size() == 1) return out;
  for (const char* key : {"step_ms_median", "train_tokens_per_s", "gen_tokens_per_s", "decode_tokens_per_s", "prefill_ms"}) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.at(key).get<double>());
    out[key] = round3(median(v));
  }
  json per_round = json::array();
  double rss = 0;
  for (const auto& r : runs) {
    per_round.push_back(r.at("train_tokens_per_s"));
    rss = std::max(rss, r.at("peak_rss_mb").get<double>());
  }
  out["peak_rss_mb"] = rss;
  out["train_tokens_per_s_rounds"] = per_round;
  out["rounds"] = runs.size();
  return out;
}

int run_parent(Options o) {
  const int n = cores();
  std::vector<Combo> combos;
  if (o.sweep) {
    combos = {{n, 1}, {1, 1}, {n, n}, {1, n}};
  } else {
    combos = {{o.veil_blas > 0 ? o.veil_blas : n, o.veil_omp > 0 ? o.veil_omp : n}};
  }
  std::vector<Combo> torch_combos = combos;
  if (!o.sweep) torch_combos = {{o.torch_blas > 0 ? o.torch_blas : n, o.torch_omp > 0 ? o.torch_omp : n}};
  const bool py = o.python && python_available();
  if (!o.json_only) {
    std::printf("bench_engine: LoRA r=8 alpha=16 on all linear layers, batch %lld x seq %lld, AdamW; generation "
                "%lld-token prompt + %d new tokens greedy; %d cores; PyTorch eager side: %s\n",
                static_cast<long long>(kBatch), static_cast<long long>(kSeq), static_cast<long long>(kPromptTokens),
                o.gen_tokens, n, py ? "on" : (o.python ? "python3/torch not found, skipped" : "off (--no-python)"));
    std::fflush(stdout);
  }

  json models = json::object();
  bool all_met = py;
  for (const auto& m : o.models) {
    const int layers = o.layers > 0 ? o.layers : default_layers(m);
    const int steps = o.steps > 0 ? o.steps : default_steps(m);
    const auto full = make_config(m, 0).num_layers;
    if (!o.json_only)
      std::printf("== %s: %d/%lld layers%s, %d timed steps after %d warmup\n", m.c_str(), layers,
                  static_cast<long long>(full), layers < full ? " (reduced to fit the time budget)" : "", steps,
                  o.warmup);
    // Interleave the sides per thread setting, and repeat the sequence --rounds times, so that
    // drifting machine load hits both alike; each setting is then the median over its rounds.
    const std::size_t settings = std::max(combos.size(), torch_combos.size());
    std::vector<std::vector<json>> veil_rounds(settings), torch_rounds(settings);
    for (int round = 0; round < o.rounds; ++round) {
      if (o.rounds > 1 && !o.json_only) std::printf("-- round %d of %d\n", round + 1, o.rounds);
      for (std::size_t i = 0; i < settings; ++i) {
        if (i < combos.size())
          if (auto r = run_veil(o, m, combos[i], layers, steps)) veil_rounds[i].push_back(*r);
        if (py && i < torch_combos.size())
          if (auto r = run_torch(o, m, torch_combos[i], layers, steps)) {
            (*r)["blas"] = torch_combos[i].blas;
            (*r)["omp"] = torch_combos[i].omp;
            torch_rounds[i].push_back(*r);
          }
      }
    }
    std::vector<json> veil_runs, torch_runs;
    for (const auto& runs : veil_rounds)
      if (!runs.empty()) veil_runs.push_back(merge_rounds(runs));
    for (const auto& runs : torch_rounds)
      if (!runs.empty()) torch_runs.push_back(merge_rounds(runs));
    if (veil_runs.empty()) {
      std::fprintf(stderr, "bench_engine: no Veil measurement for %s\n", m.c_str());
      return 1;
    }
    json mj = {{"layers", layers}, {"full_layers", full}, {"steps", steps}, {"warmup", o.warmup}};
    const json* vt = best_by(veil_runs, "train_tokens_per_s");
    const json* vg = best_by(veil_runs, "gen_tokens_per_s");
    mj["veil"] = summary_with_rounds(*vt);
    mj["veil"]["gen_threads"] = summary(*vg)["threads"];
    mj["veil"]["gen_tokens_per_s"] = vg->at("gen_tokens_per_s");
    mj["veil"]["decode_tokens_per_s"] = vg->at("decode_tokens_per_s");
    if (vt->contains("breakdown")) mj["veil"]["breakdown"] = vt->at("breakdown");
    if (!o.json_only) {
      if (o.sweep || !torch_runs.empty()) std::printf("  %-6s %-9s %12s %14s %14s %12s\n", "side", "blas/omp",
                                                      "step ms", "train tok/s", "gen tok/s", "peak RSS MB");
      auto row = [](const char* side, const json& r) {
        std::printf("  %-6s %-9s %12.0f %14.1f %14.2f %12.0f\n", side, summary(r)["threads"].get<std::string>().c_str(),
                    r.at("step_ms_median").get<double>(), r.at("train_tokens_per_s").get<double>(),
                    r.at("gen_tokens_per_s").get<double>(), r.at("peak_rss_mb").get<double>());
      };
      for (const auto& r : veil_runs) row("veil", r);
      for (const auto& r : torch_runs) row("torch", r);
    }
    if (o.sweep) {
      json sw = json::array();
      for (const auto& r : veil_runs) sw.push_back({{"side", "veil"}, {"summary", summary(r)}});
      for (const auto& r : torch_runs) sw.push_back({{"side", "pytorch"}, {"summary", summary(r)}});
      mj["sweep"] = sw;
    }
    if (!torch_runs.empty()) {
      const json* pt = best_by(torch_runs, "train_tokens_per_s");
      const json* pg = best_by(torch_runs, "gen_tokens_per_s");
      mj["pytorch"] = summary_with_rounds(*pt);
      mj["pytorch"]["gen_threads"] = summary(*pg)["threads"];
      mj["pytorch"]["gen_tokens_per_s"] = pg->at("gen_tokens_per_s");
      mj["pytorch"]["decode_tokens_per_s"] = pg->at("decode_tokens_per_s");
      const double tr = vt->at("train_tokens_per_s").get<double>() / pt->at("train_tokens_per_s").get<double>();
      const double gr = vg->at("gen_tokens_per_s").get<double>() / pg->at("gen_tokens_per_s").get<double>();
      const double mr = vt->at("peak_rss_mb").get<double>() / pt->at("peak_rss_mb").get<double>();
      mj["ratio"] = {{"train", round3(tr)}, {"gen", round3(gr)}, {"peak_rss", round3(mr)}};
      const bool met = tr >= 1.2 && gr >= 1.2;
      all_met = all_met && met;
      mj["goal_1_2x_met"] = met;
      if (!o.json_only)
        std::printf("  %s best: veil/pytorch train %.2fx (veil %s, torch %s), generation %.2fx (veil %s, torch %s), "
                    "peak RSS %.2fx; goal >= 1.2x %s\n",
                    m.c_str(), tr, mj["veil"]["threads"].get<std::string>().c_str(),
                    mj["pytorch"]["threads"].get<std::string>().c_str(), gr,
                    mj["veil"]["gen_threads"].get<std::string>().c_str(),
                    mj["pytorch"]["gen_threads"].get<std::string>().c_str(), mr, met ? "met" : "NOT met");
    } else {
      all_met = false;
    }
    models[m] = mj;
    std::fflush(stdout);
  }
  json out = {{"bench", "engine"},
              {"cores", n},
              {"batch", kBatch},
              {"seq", kSeq},
              {"lora_rank", 8},
              {"lora_alpha", 16},
              {"prompt_tokens", kPromptTokens},
              {"gen_tokens", o.gen_tokens},
              {"threads_sweep", o.sweep},
              {"rounds", o.rounds},
              {"pytorch", py},
              {"models", models},
              {"goal_1_2x_met", all_met}};
  std::cout << out.dump() << std::endl;
  return 0;
}

void usage() {
  std::printf(
      "bench_engine: Veil vs PyTorch-eager LoRA fine-tuning and generation throughput\n"
      "  --model gpt2|llama1b|both   (default both)\n"
      "  --steps N                   timed training steps (default gpt2 5, llama1b 3)\n"
      "  --warmup N                  untimed steps first (default 1)\n"
      "  --layers N                  layer count on both sides (default gpt2 12 = full, llama1b 2 of 16)\n"
      "  --gen-tokens N              new tokens generated (default 32, after a 32-token prompt)\n"
      "  --threads-sweep             try blas/omp {N/1, 1/1, N/N, 1/N} on each side, report each at its best\n"
      "  --veil-threads B/O          without the sweep (default N/1, 0 = cores)\n"
      "  --torch-threads B/O         without the sweep (default N/1, 0 = cores)\n"
      "  --breakdown                 also time forward+loss and backward separately (Veil)\n"
      "  --rounds N                  repeat the interleaved Veil/PyTorch runs N times, report medians (default 1)\n"
      "  --op-trace FILE             write a Chrome trace of one more Veil training step (per-op times)\n"
      "  --no-python                 skip the PyTorch side\n"
      "  --json-only                 print only the final JSON line\n");
}

void parse_pair(const std::string& s, int& a, int& b) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) throw std::invalid_argument("thread setting must be B/O, got '" + s + "'");
  a = std::stoi(s.substr(0, slash));
  b = std::stoi(s.substr(slash + 1));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--model") {
        const auto m = next();
        if (m == "both") o.models = {"gpt2", "llama1b"};
        else {
          (void)make_config(m, 0);
          o.models = {m};
        }
      } else if (a == "--steps") o.steps = std::stoi(next());
      else if (a == "--warmup") o.warmup = std::stoi(next());
      else if (a == "--layers") o.layers = std::stoi(next());
      else if (a == "--gen-tokens") o.gen_tokens = std::stoi(next());
      else if (a == "--threads-sweep") o.sweep = true;
      else if (a == "--veil-threads") parse_pair(next(), o.veil_blas, o.veil_omp);
      else if (a == "--torch-threads") parse_pair(next(), o.torch_blas, o.torch_omp);
      else if (a == "--breakdown") o.breakdown = true;
      else if (a == "--op-trace") o.op_trace = next();
      else if (a == "--rounds") o.rounds = std::stoi(next());
      else if (a == "--no-python") o.python = false;
      else if (a == "--json-only") o.json_only = true;
      else if (a == "--child") {
        o.child = true;
        o.child_model = next();
      } else if (a == "--blas") o.child_blas = std::stoi(next());
      else if (a == "--omp") o.child_omp = std::stoi(next());
      else if (a == "--help" || a == "-h") {
        usage();
        return 0;
      } else throw std::invalid_argument("unknown option " + a);
    }
    if (o.steps == 0 || o.warmup < 0 || o.gen_tokens < 1 || o.rounds < 1)
      throw std::invalid_argument("bad --steps/--warmup/--gen-tokens/--rounds");
    return o.child ? run_child(o) : run_parent(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine: %s\n", e.what());
    return 2;
  }
}
