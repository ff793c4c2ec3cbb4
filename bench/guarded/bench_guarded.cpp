// bench_guarded: the GuardedTuning designs against plain fine-tuning, side by side in one run.
//
//  1. Shapes (GPT-2-small, Llama-3.2-1B): the client's parameter and FLOP shares, bytes per token
//     on the wire (from the cost model), and, for GPT-2-small (and Llama-1B with --llama-layers
//     N[,M...], extrapolated linearly in the layer count to 16 when two or more are given), the
//     measured step time of plain, split and gradfree on random weights (medians), the client's
//     own time (step time minus the time spent waiting for the in-process server), the bytes of
//     the tensors the client holds (weights, norms, LoRA: unique storages) and the measured bytes
//     per token.
//  2. Utility on a real model (stories260K) and dataset (tinyshakespeare): final validation loss of
//     each design and enhancement at a few strengths, against plain, same data, steps and seed.
// Ends with one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <set>

#include "designs/guarded/client.h"
#include "veil/designs/registry.h"
#include "veil/model/presets.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"
#include "veil/runtime/threads.h"
#include "veil/train/finetune.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace veil;

namespace {

model::ModelConfig shape(const std::string& name, int layers) {
  model::ModelConfig c = model::preset(name == "gpt2-small" ? "gpt2-small" : "llama-3.2-1b");
  c.rope_scaling.reset();  // the figures have always been measured without RoPE scaling
  if (layers > 0) c.num_layers = layers;
  c.validate();
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Analytic shares and bytes per token for a U-split with k = m = 2 (seq_len 256).
json shape_costs(const model::ModelConfig& c) {
  const int k = 2, m = 2;
  auto cm = designs::guarded::cost_model(c, 256);
  const double L = static_cast<double>(c.num_layers);
  const double plain_flops = 3 * (L * cm.block_flops + cm.head_flops);
  const double split_flops = 3 * ((k + m) * cm.block_flops + cm.head_flops);
  const double gradfree_flops = 1 * k * cm.block_flops + 3 * (m * cm.block_flops + cm.head_flops);
  const double params = L * cm.block_params + cm.head_params;
  const double client_params = (k + m) * cm.block_params + cm.head_params;
  const double d = static_cast<double>(c.hidden_size);
  // Per token: split sends h up and gets h down (forward), sends dL/dh_out up and gets dL/dh_in down.
  return {{"layers", c.num_layers}, {"hidden", c.hidden_size}, {"k", k}, {"m", m},
          {"client_param_share", client_params / params},
          {"split_client_flop_share", split_flops / plain_flops},
          {"gradfree_client_flop_share", gradfree_flops / plain_flops},
          {"split_bytes_per_token_f32", 16 * d}, {"split_bytes_per_token_q8", 4 * (d + 4)},
          {"gradfree_bytes_per_token_f32", 8 * d}};
}

// Writes random weights of `c` as an HF directory (once).
fs::path random_model_dir(const model::ModelConfig& c, const std::string& name) {
  auto dir = fs::temp_directory_path() / ("veil-bench-guarded-" + name + "-" + std::to_string(c.num_layers));
  if (fs::exists(dir / "model.safetensors")) return dir;
  auto w = model::family_traits(c.family).import_weights(c, model::random_hf_weights(c, 1));
  model::save_model(dir, c, w.params, w.linear);
  return dir;
}

// Bytes of the tensors a session's model holds: parameters (embeddings, norms, biases), the plain
// executor's linear weights and the LoRA adapters, each storage counted once. Activations and
// optimizer state are not included.
double held_bytes(train::DesignSession& s) {
  std::set<const void*> seen;
  double bytes = 0;
  auto add = [&](const at::Tensor& t) {
    if (!t.defined()) return;
    const void* key = t.storage().unsafeGetStorageImpl();
    if (seen.insert(key).second) bytes += static_cast<double>(t.storage().nbytes());
  };
  auto& m = s.model();
  for (const auto& t : m.params().all()) add(t);
  if (auto* plain = dynamic_cast<model::PlainExecutor*>(&m.executor()))
    for (const auto& [site, w] : plain->weights()) add(w);
  for (const auto& t : s.adapters()->parameters()) add(t);
  return bytes;
}

struct StepTiming {
  double step_s = 0, client_s = 0, held_bytes = 0;
  double step_cpu_s = 0, client_cpu_s = 0;  // process CPU time (all threads): robust to a busy machine
  json report;
};

// Median seconds per optimizer step of `design` on random token batches, and the median of the
// client's own part (the step minus the time waiting for the in-process server).
StepTiming step_time(const fs::path& dir, const std::string& design, std::map<std::string, std::string> opts,
                     int steps, std::int64_t seq) {
  train::FinetuneConfig cfg;
  cfg.model = dir;
  cfg.design = design;
  cfg.design_options = std::move(opts);
  cfg.lora.r = 8;
  cfg.batch_size = 1;  // the split server sees every micro-batch at [batch_size, seq_len]
  cfg.seq_len = seq;
  auto s = train::open_design(cfg);
  train::OptimConfig oc;
  oc.total_steps = steps + 1;
  train::Trainer trainer(s->model(), s->trainable(), oc);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  std::vector<double> t, client, cpu, client_cpu;
  auto waited = [&] { return s->report().value("seconds_waiting_for_server", 0.0); };
  auto server_cpu = [&] { return s->report().value("process_cpu_seconds_in_server_calls", 0.0); };
  for (int i = 0; i <= steps; ++i) {
    auto ids = at::randint(0, 1000, {1, seq + 1}, gen, at::kLong);
    train::MicroBatch mb{ids.narrow(1, 0, seq).contiguous(), ids.narrow(1, 1, seq).contiguous()};
    const double w0 = waited(), sc0 = server_cpu();
    auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    (void)s->step(trainer, std::span<const train::MicroBatch>(&mb, 1));
    const double dc = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) {
      t.push_back(dt);
      client.push_back(dt - (waited() - w0));
      cpu.push_back(dc);
      client_cpu.push_back(dc - (server_cpu() - sc0));
    }
  }
  StepTiming r;
  r.step_s = median(t);
  r.client_s = median(client);
  r.step_cpu_s = median(cpu);
  r.client_cpu_s = median(client_cpu);
  r.held_bytes = held_bytes(*s);
  r.report = s->report();
  return r;
}

json timings(const std::string& name, int layers, int steps, std::int64_t seq) {
  auto c = shape(name, layers);
  auto dir = random_model_dir(c, name);
  auto plain = step_time(dir, "plain", {}, steps, seq);
  auto split = step_time(dir, "split", {{"k", "2"}, {"m", "2"}}, steps, seq);
  auto gf = step_time(dir, "gradfree", {{"k", "2"}, {"m", "2"}}, steps, seq);
  std::fprintf(stderr, "%s (%d layers) CPU s/step: plain %.3f, split %.3f (x%.2f; client %.3f, x%.2f), gradfree %.3f (x%.2f; client %.3f, x%.2f)\n",
               name.c_str(), static_cast<int>(c.num_layers), plain.step_cpu_s, split.step_cpu_s,
               split.step_cpu_s / plain.step_cpu_s, split.client_cpu_s, split.client_cpu_s / plain.step_cpu_s,
               gf.step_cpu_s, gf.step_cpu_s / plain.step_cpu_s, gf.client_cpu_s, gf.client_cpu_s / plain.step_cpu_s);
  std::fprintf(stderr,
               "%s (%d layers, seq %lld): plain %.3f s, split %.3f s (x%.2f; client's own %.3f s, x%.2f), gradfree "
               "%.3f s (x%.2f; client's own %.3f s, x%.2f); client holds %.0f MB of plain's %.0f MB (split %.2f, "
               "gradfree %.2f)\n",
               name.c_str(), static_cast<int>(c.num_layers), static_cast<long long>(seq), plain.step_s, split.step_s,
               split.step_s / plain.step_s, split.client_s, split.client_s / plain.step_s, gf.step_s,
               gf.step_s / plain.step_s, gf.client_s, gf.client_s / plain.step_s, split.held_bytes / 1e6,
               plain.held_bytes / 1e6, split.held_bytes / plain.held_bytes, gf.held_bytes / plain.held_bytes);
  return {{"layers", c.num_layers}, {"seq", seq}, {"steps", steps}, {"plain_s", plain.step_s},
          {"split_s", split.step_s}, {"gradfree_s", gf.step_s}, {"split_over_plain", split.step_s / plain.step_s},
          {"gradfree_over_plain", gf.step_s / plain.step_s}, {"split_client_s", split.client_s},
          {"gradfree_client_s", gf.client_s}, {"split_client_time_share", split.client_s / plain.step_s},
          {"plain_cpu_s", plain.step_cpu_s}, {"split_cpu_s", split.step_cpu_s}, {"gradfree_cpu_s", gf.step_cpu_s},
          {"split_client_cpu_s", split.client_cpu_s}, {"gradfree_client_cpu_s", gf.client_cpu_s},
          {"gradfree_client_time_share", gf.client_s / plain.step_s},
          {"plain_held_bytes", plain.held_bytes}, {"split_client_held_bytes", split.held_bytes},
          {"gradfree_client_held_bytes", gf.held_bytes},
          {"split_client_held_share", split.held_bytes / plain.held_bytes},
          {"gradfree_client_held_share", gf.held_bytes / plain.held_bytes},
          {"split_client_flop_share_model", split.report.value("client_flop_share", 0.0)},
          {"split_bytes_up_per_token", split.report.value("bytes_up_per_token", 0.0)},
          {"split_bytes_down_per_token", split.report.value("bytes_down_per_token", 0.0)},
          {"gradfree_bytes_up_per_token", gf.report.value("bytes_up_per_token", 0.0)},
          {"gradfree_bytes_down_per_token", gf.report.value("bytes_down_per_token", 0.0)}};
}

// Step times at several layer counts, and their least-squares line evaluated at `target` layers.
json extrapolated(const std::string& name, const std::vector<int>& layers, int target, int steps, std::int64_t seq) {
  json runs = json::array();
  for (int l : layers) runs.push_back(timings(name, l, steps, seq));
  json out = {{"runs", runs}};
  if (layers.size() < 2) return out;
  for (const char* key : {"plain_s", "split_s", "gradfree_s", "split_client_s", "gradfree_client_s", "plain_cpu_s",
                          "split_cpu_s", "gradfree_cpu_s", "split_client_cpu_s", "gradfree_client_cpu_s"}) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const auto& r : runs) {
      const double x = r["layers"].get<double>(), y = r[key].get<double>();
      n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), icept = (sy - slope * sx) / n;
    out["extrapolated_to_" + std::to_string(target) + "_layers"][key] = icept + slope * target;
    out["per_layer"][key] = slope;
  }
  auto& e = out["extrapolated_to_" + std::to_string(target) + "_layers"];
  e["split_over_plain"] = e["split_s"].get<double>() / e["plain_s"].get<double>();
  e["gradfree_over_plain"] = e["gradfree_s"].get<double>() / e["plain_s"].get<double>();
  e["split_client_time_share"] = e["split_client_s"].get<double>() / e["plain_s"].get<double>();
  e["split_cpu_over_plain"] = e["split_cpu_s"].get<double>() / e["plain_cpu_s"].get<double>();
  e["gradfree_cpu_over_plain"] = e["gradfree_cpu_s"].get<double>() / e["plain_cpu_s"].get<double>();
  e["split_client_cpu_share"] = e["split_client_cpu_s"].get<double>() / e["plain_cpu_s"].get<double>();
  e["gradfree_client_cpu_share"] = e["gradfree_client_cpu_s"].get<double>() / e["plain_cpu_s"].get<double>();
  std::fprintf(stderr, "%s extrapolated to %d layers: %s\n", name.c_str(), target, e.dump().c_str());
  return out;
}

// Final validation loss of one fine-tuning run on stories260K.
json utility_run(const fs::path& assets, const std::string& design, std::map<std::string, std::string> opts, int steps) {
  train::FinetuneConfig cfg;
  cfg.model = assets / "models/stories260K-hf";
  cfg.data = assets / "data/tinyshakespeare.txt";
  cfg.out = fs::temp_directory_path() / "veil-bench-guarded-run";
  fs::remove_all(cfg.out);
  cfg.design = design;
  cfg.design_options = opts;
  cfg.seq_len = 64;
  cfg.batch_size = 8;
  cfg.max_steps = steps;
  cfg.max_examples = 0;
  cfg.optim.lr = 3e-3;
  cfg.val_fraction = 0.02;
  cfg.progress = false;
  cfg.seed = 1;
  auto r = train::run_finetune(cfg);
  std::string label = design;
  for (const auto& [k, v] : opts) label += " " + k + "=" + v;
  json j = {{"run", label}, {"val_before", r.val_loss_before.value_or(0)}, {"val_after", r.val_loss_after.value_or(0)},
            {"final_train_loss", r.final_loss}, {"seconds", r.seconds}};
  if (auto rep = r.summary.find("design_report"); rep != r.summary.end()) {
    if (rep->contains("bytes_up_per_token")) j["bytes_up_per_token"] = (*rep)["bytes_up_per_token"];
    if (rep->contains("noise") && (*rep)["noise"].contains("dp_epsilon")) j["dp_epsilon"] = (*rep)["noise"]["dp_epsilon"];
    if (rep->contains("plugged_full_model_val_loss")) j["plugged_full_val"] = (*rep)["plugged_full_model_val_loss"];
    for (const char* k : {"emulator_val_loss_first_eval", "full_model_val_loss_first_eval", "distillation"})
      if (rep->contains(k)) j[k] = (*rep)[k];
  }
  std::fprintf(stderr, "%-48s val %.4f -> %.4f (%.1f s)\n", label.c_str(), j["val_before"].get<double>(),
               j["val_after"].get<double>(), r.seconds);
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 3, utility_steps = 60;
  std::vector<int> llama_layers;
  bool only_offsite = false;
  std::int64_t seq = 64;
  bool skip_utility = false, skip_timing = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--steps") steps = std::stoi(next());
    else if (a == "--seq") seq = std::stoll(next());
    else if (a == "--llama-layers") {
      const std::string list = next();
      for (std::size_t pos = 0; pos < list.size();) {
        auto comma = std::min(list.find(',', pos), list.size());
        llama_layers.push_back(std::stoi(list.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (a == "--only-offsite") only_offsite = true;
    else if (a == "--utility-steps") utility_steps = std::stoi(next());
    else if (a == "--no-utility") skip_utility = true;
    else if (a == "--no-timing") skip_timing = true;
    else {
      std::fprintf(stderr,
                   "usage: bench_guarded [--steps N] [--seq T] [--llama-layers N[,M...]] [--utility-steps N] "
                   "[--no-utility] [--no-timing] [--only-offsite]\n");
      return 2;
    }
  }
  runtime::configure_threads();
  designs::register_builtin_designs();
  json out = {{"bench", "guarded"}, {"threads", runtime::describe_threads()}};
  out["shapes"] = {{"gpt2-small", shape_costs(shape("gpt2-small", 0))}, {"llama-3.2-1b", shape_costs(shape("llama", 0))}};
  if (!skip_timing) {
    out["timing"]["gpt2-small"] = timings("gpt2-small", 0, steps, seq);
    if (!llama_layers.empty()) out["timing"]["llama-3.2-1b"] = extrapolated("llama", llama_layers, 16, steps, seq);
  }
  const char* shared = std::getenv("VEIL_SHARED_DIR");
  fs::path assets = shared ? fs::path(shared) : fs::path("../shared/assets");
  if (!skip_utility && fs::exists(assets / "models/stories260K-hf")) {
    using Opts = std::map<std::string, std::string>;
    std::vector<std::pair<std::string, Opts>> runs = {
        {"plain", {}},
        {"split", {{"k", "1"}, {"m", "1"}}},
        {"split", {{"noise", "gaussian"}, {"noise_scale", "0.1"}}},
        {"split", {{"noise", "gaussian"}, {"noise_scale", "0.5"}}},
        {"split", {{"noise", "gaussian"}, {"noise_scale", "2"}}},
        {"split", {{"noise", "laplace"}, {"epsilon", "10"}}},
        {"split", {{"noise", "laplace"}, {"epsilon", "2"}}},
        {"split", {{"dcor", "0.1"}}},
        {"split", {{"dcor", "1"}}},
        {"split", {{"quant_bits", "8"}}},
        {"split", {{"quant_bits", "4"}}},
        {"split", {{"mix", "orthogonal"}}},
        {"split", {{"server_lora", "1"}}},
        {"gradfree", {}},
        {"gradfree", {{"zo_bottom", "1"}, {"zo_lr", "0.01"}}},
        {"offsite", {{"keep", "1"}}},
        {"offsite", {{"keep", "2"}}},
    };
    // Offsite with the emulator distilled on public text (wikitext-2, not the fine-tuning data).
    const std::string wiki = (assets / "data/wikitext-2/valid.txt").string();
    for (const char* keep : {"1", "2"})
      for (const char* target : {"hidden", "logits"})
        runs.push_back({"offsite", {{"keep", keep}, {"distill_data", wiki}, {"distill_steps", "300"},
                                    {"distill_seq_len", "64"}, {"distill_batch", "8"}, {"distill_lr", "1e-3"},
                                    {"distill_target", target}}});
    for (const auto& [d, o] : runs)
      if (!only_offsite || d == "offsite") out["utility"].push_back(utility_run(assets, d, o, utility_steps));
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
