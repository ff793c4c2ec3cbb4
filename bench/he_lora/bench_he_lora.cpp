// he-lora against plain LoRA, side by side in one run: training step time (stories260K and a
// Llama-3.2-1B-shaped model with random weights), and bytes on the wire per generated token.
// Medians over --reps steps after one warm-up step (also for the Llama-1B shape, whose default
// --reps 3 used to be fixed at 1); ends with ONE JSON line, with /proc/loadavg at start and end.
//
//   bench_he_lora [--reps N] [--tokens T] [--skip-1b] [--model DIR]
//   bench_he_lora --curves OUT.svg [--steps S]   loss curves at 4, 6, 8, 12, 16 bits and plain
//   bench_he_lora --greedy                       where encrypted greedy decoding departs from plain
//   bench_he_lora --pipeline [--reps N] [--tokens T] [--skip-1b]   2 in-process workers, a step of
//                                                several micro-batches, pipeline=on vs off
//   bench_he_lora --gpt2                         bytes per decoded token, GPT-2-small shape (random
//                                                weights, embedding and LM head on the worker), in
//                                                exact and compact precision, per part
//   bench_he_lora --decode-1b                    the same for the Llama-3.2-1B shape: one layer
//                                                measured, embedding and LM head computed from the
//                                                parameters the worker would choose, 16 layers summed
//   --opt KEY=VALUE                              he-lora option for every session (e.g. precision=compact)
//   bench_he_lora --he-steps L [--reps N] [--tokens T]   only he-lora steps of the Llama-1B shape
//                                                with L layers (for profiling: prints each timed
//                                                step's CLOCK_MONOTONIC interval, for perf --time)
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "veil/designs/he_lora/session.h"
#include "veil/designs/he_lora/options.h"
#include "veil/he/serialization.h"
#include "veil/he/quantize.h"
#include "veil/designs/registry.h"
#include "veil/model/presets.h"
#include "veil/model/generate.h"
#include "veil/model/loader.h"
#include "veil/runtime/threads.h"
#include "veil/train/design.h"
#include "veil/train/trainer.h"
#include "veil/util/file_io.h"
#include "veil/util/svg_plot.h"

namespace fs = std::filesystem;
using namespace veil;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string line;
  std::getline(f, line);
  return line;
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

train::MicroBatch random_batch(std::int64_t rows, std::int64_t len, std::int64_t vocab, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto t = at::randint(vocab, {rows, len + 1}, gen, at::kLong);
  return {t.narrow(1, 0, len).clone(), t.narrow(1, 1, len).clone()};
}

// Median seconds of a training step of `session` (one warm-up step first: plans and masks); every
// timed step's seconds are appended to `all` when given.
double step_seconds(train::DesignSession& s, std::span<const train::MicroBatch> micro, int reps,
                    std::vector<double>* all = nullptr) {
  train::OptimConfig oc;
  oc.total_steps = reps + 1;
  train::Trainer trainer(s.model(), s.trainable(), oc);
  s.model().set_training(true);
  std::vector<double> t;
  for (int i = 0; i <= reps; ++i) {
    const double t0 = now();
    (void)s.step(trainer, micro);
    if (i > 0) t.push_back(now() - t0);
  }
  if (all) *all = t;
  return median(t);
}

using model::gpt2_small;

model::ModelConfig llama_1b(int layers) {
  model::ModelConfig c = model::llama3_2_1b();
  c.num_layers = layers;
  c.max_position_embeddings = 2048;  // the figures have always been measured with these two
  c.rope_scaling.reset();
  return c;
}

std::shared_ptr<model::ModelFiles> random_files(const model::ModelConfig& c) {
  auto tensors = model::random_hf_weights(c, 1);
  auto f = std::make_shared<model::ModelFiles>();
  f->config = c;
  f->weights = model::family_traits(c.family).import_weights(c, std::move(tensors));
  return f;
}

std::map<std::string, std::string> g_opts;  // --opt pairs, added to every session

train::FinetuneConfig session_config(std::map<std::string, std::string> opts) {
  train::FinetuneConfig fc;
  fc.design = "he-lora";
  for (const auto& [k, v] : g_opts) opts.try_emplace(k, v);
  fc.design_options = std::move(opts);
  fc.seed = 1;
  return fc;
}

// Plain step vs he-lora step on one model and batch.
nlohmann::json compare(const std::shared_ptr<model::ModelFiles>& files, const train::MicroBatch& mb, int reps,
                       std::map<std::string, std::string> opts) {
  auto fc = session_config(opts);
  // Plain LoRA on the same weights.
  double plain_s;
  std::vector<double> plain_steps, he_steps;
  {
    auto exec = std::make_shared<model::PlainExecutor>(files->weights.linear);
    struct Plain final : train::DesignSession {
      std::unique_ptr<model::CausalLM> m;
      std::shared_ptr<model::LoraAdapters> l;
      model::CausalLM& model() override { return *m; }
      std::shared_ptr<model::LoraAdapters> adapters() override { return l; }
    } p;
    p.m = model::build_model(files->config, files->weights.params, exec);
    p.l = std::make_shared<model::LoraAdapters>(files->config, fc.lora, fc.seed);
    p.m->set_lora(p.l);
    plain_s = step_seconds(p, {&mb, 1}, reps, &plain_steps);
  }
  designs::he_lora::HeLoraSession he(fc, files);
  const double he_s = step_seconds(he, {&mb, 1}, reps, &he_steps);
  const double tokens = static_cast<double>(mb.input_ids.numel());
  auto rep = he.report();
  return {{"tokens_per_step", tokens},
          {"plain_step_s", plain_s},
          {"he_step_s", he_s},
          {"plain_steps_s", plain_steps},
          {"he_steps_s", he_steps},
          {"ratio", he_s / plain_s},
          {"plain_tokens_per_s", tokens / plain_s},
          {"he_tokens_per_s", tokens / he_s},
          {"bytes_per_token", (rep["upload_bytes"].get<double>() + rep["result_bytes"].get<double>()) /
                                  rep["tokens"].get<double>()},
          {"owner_parameter_share", rep["owner_parameter_share"]},
          {"owner_mask_bytes", rep["owner_mask_bytes"]},
          {"he_parameters", rep["he_parameters"]}};
}

// he-lora steps only (no plain run) on the Llama-1B shape with `layers` layers; one warm-up step,
// then `reps` timed steps whose steady_clock (= CLOCK_MONOTONIC) intervals are printed so that a
// `perf record -k CLOCK_MONOTONIC` profile can be cut to them with `perf report --time A,B`.
nlohmann::json he_steps(int layers, std::int64_t tokens, int reps) {
  auto files = random_files(llama_1b(layers));
  auto mb = random_batch(1, tokens, 128256, 6);
  designs::he_lora::HeLoraSession he(session_config({{"lm_head", "local"}, {"embed", "local"}}), files);
  train::OptimConfig oc;
  oc.total_steps = reps + 1;
  train::Trainer trainer(he.model(), he.trainable(), oc);
  he.model().set_training(true);
  std::vector<double> t;
  for (int i = 0; i <= reps; ++i) {
    const double t0 = now();
    (void)he.step(trainer, {&mb, 1});
    const double t1 = now();
    if (i > 0) t.push_back(t1 - t0);
    std::printf("step %d (%s): %.6f,%.6f  %.3f s\n", i, i == 0 ? "warm-up" : "timed", t0, t1, t1 - t0);
    std::fflush(stdout);
  }
  return {{"layers", layers}, {"tokens_per_step", tokens}, {"he_step_s", median(t)}, {"steps_s", t}};
}

nlohmann::json parms_json(const he::Parameters& p) {
  return {{"k", p.max_inner_dim}, {"N", p.poly_degree}, {"log_q", p.log_q}, {"log_t", p.log_t},
          {"log_q_down", p.log_q_down}, {"input_bits", p.input_bits}, {"compact", p.compact()},
          {"weight_l1", p.weight_l1}, {"input_l1", p.input_l1}};
}

// Bytes on the wire of one decode step (one token, KV cache local), measured on a model: the
// transport's counts (with framing) and the executor's blob bytes per part.
nlohmann::json decode_bytes(const std::shared_ptr<model::ModelFiles>& files, std::map<std::string, std::string> opts) {
  auto fc = session_config(std::move(opts));
  designs::he_lora::HeLoraSession he(fc, files);
  model::GenerationConfig g;
  g.max_new_tokens = 1;
  std::vector<std::int64_t> prompt{1};
  (void)designs::he_lora::generate(he, prompt, g);  // warm-up: plan masks
  const auto before = he.executor().pool().stats();
  const auto tb = he.executor().traffic();
  (void)designs::he_lora::generate(he, prompt, g);
  const auto after = he.executor().pool().stats();
  const auto ta = he.executor().traffic();
  const double up = static_cast<double>(after.bytes_sent - before.bytes_sent);
  const double down = static_cast<double>(after.bytes_received - before.bytes_received);
  const int L = static_cast<int>(files->config.num_layers);
  double parts[3][2] = {};  // embedding, layers, LM head: blob bytes up, down
  for (const auto& [layer, ud] : ta.by_layer) {
    auto it = tb.by_layer.find(layer);
    const double u = static_cast<double>(ud.first - (it == tb.by_layer.end() ? 0 : it->second.first));
    const double d = static_cast<double>(ud.second - (it == tb.by_layer.end() ? 0 : it->second.second));
    const int part = layer < 0 ? 0 : layer >= L ? 2 : 1;
    parts[part][0] += u;
    parts[part][1] += d;
  }
  nlohmann::json plist = nlohmann::json::array();
  for (const auto& p : he.executor().plan_parameters()) plist.push_back(parms_json(p));
  return {{"up_bytes", up}, {"down_bytes", down}, {"total_bytes", up + down},
          {"precision", he.report()["precision"]},
          {"embedding_blob_bytes", {parts[0][0], parts[0][1]}},
          {"layers_blob_bytes", {parts[1][0], parts[1][1]}},
          {"lm_head_blob_bytes", {parts[2][0], parts[2][1]}},
          {"plan_parameters", plist}};
}

// Bytes per decoded token of the embedding lookup and the LM head's forward product, computed
// (formula: header + coefficients x bits) from the parameters the worker chooses for these
// weights (the same derivation as src/designs/he_lora/worker.cpp), without building their masks.
nlohmann::json computed_lookup_and_head(const model::ModelFiles& f, const he::Parameters& base) {
  const at::Tensor e = f.weights.params.tok_emb.to(at::kFloat);
  const std::int64_t v = e.size(0), d = e.size(1);
  const std::int64_t c = std::min<std::int64_t>(base.poly_degree, v), chunks = (v + c - 1) / c;
  const double hdr = static_cast<double>(he::kHeaderSize);
  nlohmann::json j;
  {
    at::Tensor padded = at::zeros({chunks * c, d}, at::kFloat);
    padded.narrow(0, 0, v).copy_(e);
    at::Tensor wp = padded.view({chunks, c, d}).permute({1, 0, 2}).reshape({c, chunks * d}).contiguous();
    auto q = he::quantize_columns({wp.data_ptr<float>(), static_cast<std::size_t>(c * chunks * d)},
                                  static_cast<std::size_t>(c), static_cast<std::size_t>(chunks * d),
                                  static_cast<int>(base.weight_bits));
    he::ShapeBounds b = he::weight_bounds(q.values, static_cast<std::size_t>(c), static_cast<std::size_t>(chunks * d), false);
    b.input_l1 = 1;
    auto p = he::Parameters::for_matmul(2, static_cast<int>(base.weight_bits), static_cast<std::size_t>(c),
                                        base.poly_degree, he::Precision::kExact, b);
    j["embedding"] = {{"parameters", parms_json(p)},
                      {"up_bytes", hdr + 12 + std::ceil(double(c) * p.log_q / 8)},
                      {"down_bytes", hdr + 20 + std::ceil(double(chunks * d) * p.log_q_down / 8)}};
  }
  {
    const at::Tensor head = f.weights.linear.count({static_cast<int>(f.config.num_layers), model::Proj::kLmHead})
                                ? f.weights.linear.at({static_cast<int>(f.config.num_layers), model::Proj::kLmHead})
                                : e;
    at::Tensor wt = head.to(at::kFloat).t().contiguous();  // [d, vocab]
    auto q = he::quantize_columns({wt.data_ptr<float>(), static_cast<std::size_t>(wt.numel())},
                                  static_cast<std::size_t>(d), static_cast<std::size_t>(v),
                                  static_cast<int>(base.weight_bits));
    he::ShapeBounds b = he::weight_bounds(q.values, static_cast<std::size_t>(d), static_cast<std::size_t>(v), false);
    auto p = he::Parameters::for_matmul(static_cast<int>(base.input_bits), static_cast<int>(base.weight_bits),
                                        static_cast<std::size_t>(d), base.poly_degree,
                                        static_cast<he::Precision>(base.precision), b);
    j["lm_head"] = {{"parameters", parms_json(p)},
                    {"up_bytes", hdr + 12 + std::ceil(double(d) * p.log_q / 8)},
                    {"down_bytes", hdr + 20 + std::ceil(double(v) * p.log_q_down / 8)}};
  }
  return j;
}

// Llama-3.2-1B shape: one layer's decode bytes measured (embedding, LM head local: their masks
// need GBs), the embedding lookup and the LM head computed, 16 layers summed.
nlohmann::json decode_1b(std::map<std::string, std::string> opts) {
  auto files = random_files(llama_1b(1));
  opts.try_emplace("lm_head", "local");
  opts.try_emplace("embed", "local");
  nlohmann::json j;
  j["one_layer"] = decode_bytes(files, opts);
  auto fc = session_config(opts);
  const auto prec = fc.design_options.count("precision") && fc.design_options.at("precision") == "compact"
                        ? he::Precision::kCompact
                        : he::Precision::kExact;
  const auto base = designs::he_lora::parameters_for(files->config, 8, 8, prec);
  j["computed"] = computed_lookup_and_head(*files, base);
  const double layer = j["one_layer"]["total_bytes"].get<double>();
  const auto& c = j["computed"];
  const double extra = c["embedding"]["up_bytes"].get<double>() + c["embedding"]["down_bytes"].get<double>() +
                       c["lm_head"]["up_bytes"].get<double>() + c["lm_head"]["down_bytes"].get<double>();
  j["total_16_layers_bytes"] = 16 * layer + extra;
  return j;
}

// A step of `micro` with 2 in-process workers, pipelined and sequential (same session options
// otherwise): median seconds each.
nlohmann::json pipelining(const std::shared_ptr<model::ModelFiles>& files, std::span<const train::MicroBatch> micro,
                          int reps, std::map<std::string, std::string> opts) {
  nlohmann::json j;
  for (const char* mode : {"off", "on"}) {
    auto o = opts;
    o["workers"] = "in-process:2";
    o["pipeline"] = mode;
    auto fc = session_config(o);
    designs::he_lora::HeLoraSession he(fc, files);
    j[std::string("pipeline_") + mode + "_step_s"] = step_seconds(he, micro, reps);
  }
  std::int64_t tokens = 0;
  for (const auto& mb : micro) tokens += mb.input_ids.numel();
  j["micro_batches"] = micro.size();
  j["tokens_per_step"] = tokens;
  j["speedup"] = j["pipeline_off_step_s"].get<double>() / j["pipeline_on_step_s"].get<double>();
  return j;
}

// Fine-tunes stories260K on the clinic records with plain LoRA and he-lora at several bit widths;
// writes the training-loss curves as an SVG and returns the final losses.
nlohmann::json loss_curves(const fs::path& model_dir, const fs::path& svg, std::int64_t steps) {
  designs::register_builtin_designs();
  std::vector<util::Series> series;
  nlohmann::json finals;
  const fs::path tmp = fs::temp_directory_path() / "veil_he_lora_curves";
  for (int bits : {0, 4, 6, 8, 12, 16}) {
    train::FinetuneConfig c;
    c.model = model_dir;
    c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
    c.out = tmp / std::to_string(bits);
    fs::remove_all(c.out);
    c.design = bits == 0 ? "plain" : "he-lora";
    if (bits) c.design_options = {{"bits", std::to_string(bits)}};
    c.seq_len = 64;
    c.batch_size = 4;
    c.max_steps = steps;
    c.max_examples = 400;
    c.optim.lr = 5e-3;
    c.progress = false;
    c.seed = 3;
    auto r = train::run_finetune(c);
    util::Series s;
    s.name = bits ? std::to_string(bits) + "-bit HE" : "plain LoRA";
    std::ifstream in(c.out / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) {
        s.x.push_back(j["step"].get<double>());
        s.y.push_back(j["loss"].get<double>());
      }
    }
    finals[s.name] = r.final_loss;
    std::cout << s.name << ": " << r.first_loss << " -> " << r.final_loss << "\n";
    series.push_back(std::move(s));
  }
  util::write_file_atomic(svg, util::line_chart_svg("he-lora vs plain LoRA (stories260K, clinic records)", series,
                                                    "optimizer step", "training loss"));
  return finals;
}

// Greedy generation (24 tokens) on stories260K with encrypted products at each activation width
// and weight width, against plain greedy: the first position where the tokens differ (-1: equal).
nlohmann::json greedy_sweep(const fs::path& model_dir) {
  auto files = std::make_shared<model::ModelFiles>(model::read_model(model_dir));
  auto plain = model::load_model(model_dir);
  const std::vector<std::int64_t> prompt{1, 403, 407, 261, 378};
  model::GenerationConfig g;
  g.max_new_tokens = 24;
  const auto want = model::generate(*plain.model, prompt, g);
  nlohmann::json out = nlohmann::json::array();
  for (int wbits : {12, 8}) {
    for (int bits = 16; bits >= 4; bits -= 2) {
      auto fc = session_config({{"bits", std::to_string(bits)}, {"weight_bits", std::to_string(wbits)}});
      designs::he_lora::HeLoraSession he(fc, files);
      const auto got = designs::he_lora::generate(he, prompt, g);
      int first = -1;
      for (std::size_t i = 0; i < want.size() && first < 0; ++i)
        if (i >= got.size() || got[i] != want[i]) first = static_cast<int>(i);
      out.push_back({{"bits", bits}, {"weight_bits", wbits}, {"first_difference", first}});
      std::cout << bits << "-bit activations, " << wbits << "-bit weights: "
                << (first < 0 ? std::string("equal") : "differ from position " + std::to_string(first)) << "\n"
                << std::flush;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 3;
  std::int64_t tokens_1b = 256;
  bool skip_1b = false;
  fs::path curves;
  bool greedy = false, pipeline = false, gpt2 = false, decode1b = false;
  int he_only_layers = 0;
  std::int64_t steps = 40;
  fs::path model_dir;
  if (const char* d = std::getenv("VEIL_SHARED_DIR")) model_dir = fs::path(d) / "assets/models/stories260K-hf";
  else model_dir = "../shared/assets/models/stories260K-hf";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--tokens" && i + 1 < argc) tokens_1b = std::atoll(argv[++i]);
    else if (a == "--skip-1b") skip_1b = true;
    else if (a == "--greedy") greedy = true;
    else if (a == "--pipeline") pipeline = true;
    else if (a == "--gpt2") gpt2 = true;
    else if (a == "--decode-1b") decode1b = true;
    else if (a == "--opt" && i + 1 < argc) {
      const std::string kv = argv[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::cerr << "--opt expects KEY=VALUE\n";
        return 2;
      }
      g_opts[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    else if (a == "--he-steps" && i + 1 < argc) he_only_layers = std::atoi(argv[++i]);
    else if (a == "--curves" && i + 1 < argc) curves = argv[++i];
    else if (a == "--steps" && i + 1 < argc) steps = std::atoll(argv[++i]);
    else if (a == "--model" && i + 1 < argc) model_dir = argv[++i];
    else {
      std::cerr << "usage: bench_he_lora [--reps N] [--tokens T] [--skip-1b] [--model DIR]\n"
                   "       bench_he_lora --curves OUT.svg [--steps S] [--model DIR]\n"
                   "       bench_he_lora --greedy [--model DIR]\n"
                   "       bench_he_lora --pipeline [--reps N] [--tokens T] [--skip-1b] [--model DIR]\n"
                   "       bench_he_lora --gpt2 | --decode-1b\n"
                   "       (any mode) --opt KEY=VALUE\n"
                   "       bench_he_lora --he-steps LAYERS [--reps N] [--tokens T]\n";
      return 2;
    }
  }
  if (reps < 1 || tokens_1b < 2) {
    std::cerr << "--reps and --tokens must be positive\n";
    return 2;
  }
  runtime::configure_threads();
  std::cout << "threads: " << runtime::describe_threads() << "\n";
  nlohmann::json out;
  out["loadavg_start"] = loadavg();
  try {
    if (greedy) {
      out["greedy"] = greedy_sweep(model_dir);
      std::cout << out.dump() << std::endl;
      return 0;
    }
    if (!curves.empty()) {
      out["final_loss"] = loss_curves(model_dir, curves, steps);
      std::cout << out.dump() << std::endl;
      return 0;
    }
    if (he_only_layers > 0) {
      out["llama1b_he_steps"] = he_steps(he_only_layers, tokens_1b, reps);
      out["peak_rss_bytes"] = runtime::peak_rss_bytes();
      std::cout << out.dump() << std::endl;
      return 0;
    }
    if (gpt2 || decode1b) {
      // Embedding (table lookup) and LM head on the worker; one decode step after a warm-up; both
      // precisions unless --opt precision=... picks one.
      std::vector<std::string> precisions{"exact", "compact"};
      if (g_opts.count("precision")) precisions = {g_opts.at("precision")};
      for (const auto& prec : precisions) {
        if (gpt2) {
          auto files = random_files(gpt2_small());
          out["gpt2_small_decode_" + prec] = decode_bytes(files, {{"precision", prec}});
          out["gpt2_small_decode_" + prec]["computed"] = computed_lookup_and_head(
              *files, designs::he_lora::parameters_for(files->config, 8, 8,
                                                       prec == "compact" ? he::Precision::kCompact : he::Precision::kExact));
          std::cout << "gpt2 " << prec << ": " << out["gpt2_small_decode_" + prec].dump() << "\n" << std::flush;
        }
        if (decode1b) {
          out["llama1b_decode_" + prec] = decode_1b({{"precision", prec}});
          std::cout << "llama1b " << prec << ": " << out["llama1b_decode_" + prec].dump() << "\n" << std::flush;
        }
      }
      out["peak_rss_bytes"] = runtime::peak_rss_bytes();
      std::cout << out.dump() << std::endl;
      return 0;
    }
    auto small = std::make_shared<model::ModelFiles>(model::read_model(model_dir));
    if (pipeline) {
      // stories260K: 4 micro-batches of 4 x 64 tokens (the column layout of training).
      std::vector<train::MicroBatch> micro;
      for (int i = 0; i < 4; ++i) micro.push_back(random_batch(4, 64, small->config.vocab_size, 10 + i));
      out["stories260K_pipeline"] = pipelining(small, micro, reps, {});
      std::cout << "stories260K: " << out["stories260K_pipeline"].dump() << "\n" << std::flush;
      if (!skip_1b) {
        // Llama-1B shape, 2 layers (one per worker), 2 micro-batches of T/2 tokens.
        std::vector<train::MicroBatch> m1b{random_batch(1, tokens_1b / 2, 128256, 20),
                                           random_batch(1, tokens_1b / 2, 128256, 21)};
        out["llama1b_2layers_pipeline"] =
            pipelining(random_files(llama_1b(2)), m1b, 1, {{"lm_head", "local"}, {"embed", "local"}});
      }
      out["peak_rss_bytes"] = runtime::peak_rss_bytes();
      std::cout << out.dump() << std::endl;
      return 0;
    }
    auto mb = random_batch(4, 64, small->config.vocab_size, 5);
    out["stories260K"] = compare(small, mb, reps, {});
    out["stories260K_decode"] = decode_bytes(small, {});
    std::cout << "stories260K: " << out["stories260K"].dump() << "\n";
    if (!skip_1b) {
      // Llama-3.2-1B shape with 1 and 2 layers; the LM head and embedding stay local here (their
      // 128256-column plan masks alone would need ~4 GB on the data owner); per-layer cost is the
      // difference and 16 layers are extrapolated.
      auto mb1 = random_batch(1, tokens_1b, 128256, 6);
      std::map<std::string, std::string> opts{{"lm_head", "local"}, {"embed", "local"}};
      auto one = compare(random_files(llama_1b(1)), mb1, reps, opts);
      std::cout << "llama1b-1layer: " << one.dump() << "\n";
      auto two = compare(random_files(llama_1b(2)), mb1, reps, opts);
      std::cout << "llama1b-2layers: " << two.dump() << "\n";
      const double he_layer = two["he_step_s"].get<double>() - one["he_step_s"].get<double>();
      const double plain_layer = two["plain_step_s"].get<double>() - one["plain_step_s"].get<double>();
      const double he16 = one["he_step_s"].get<double>() + 15 * he_layer;
      const double plain16 = one["plain_step_s"].get<double>() + 15 * plain_layer;
      out["llama1b"] = {{"one_layer", one}, {"two_layers", two}, {"he_layer_s", he_layer},
                        {"plain_layer_s", plain_layer}, {"he_16_layers_tokens_per_s", tokens_1b / he16},
                        {"plain_16_layers_tokens_per_s", tokens_1b / plain16}, {"ratio_16_layers", he16 / plain16}};
      out["llama1b_decode_one_layer"] = decode_bytes(random_files(llama_1b(1)), opts);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_he_lora: " << e.what() << "\n";
    return 1;
  }
  out["peak_rss_bytes"] = runtime::peak_rss_bytes();
  out["loadavg_end"] = loadavg();
  std::cout << out.dump() << std::endl;
  return 0;
}
