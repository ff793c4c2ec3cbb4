#include "veil/eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <ATen/ATen.h>

#include "eval/cell_inputs.h"
#include "eval/cell_privacy.h"
#include "veil/data/batch.h"
#include "veil/data/example.h"
#include "veil/designs/spec.h"
#include "veil/eval/attacks/registry.h"
#include "veil/eval/report.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/runtime/threads.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"
#include "veil/util/progress.h"

namespace veil::eval {
namespace fs = std::filesystem;
using nlohmann::json;

void EvaluateConfig::validate() const {
  VEIL_CHECK_ARG(!model.empty(), "--model is required");
  VEIL_CHECK_ARG(fs::exists(model), "--model: not found: ", model.string());
  VEIL_CHECK_ARG(!data.empty(), "--data is required");
  VEIL_CHECK_ARG(fs::is_regular_file(data), "--data: not a file: ", data.string());
  VEIL_CHECK_ARG(!out.empty(), "--out is required");
  VEIL_CHECK_ARG(!designs.empty(), "--designs names no design");
  VEIL_CHECK_ARG(steps >= 1 && batch_size >= 1 && seq_len >= 2, "--steps, --batch-size must be >= 1, --seq-len >= 2");
  VEIL_CHECK_ARG(attack_records >= 1 && attack_tokens >= 2, "--attack-records must be >= 1, --attack-tokens >= 2");
  VEIL_CHECK_ARG(cut_layer >= 0, "--cut-layer must not be negative");
  for (const auto& a : attacks) {
    if (find_attack(a)) continue;
    std::string names;
    for (const auto& s : attack_specs()) names += (names.empty() ? "" : ", ") + s.name;
    VEIL_CHECK_ARG(false, "--attacks: unknown attack '", a, "' (", names, ")");
  }
  for (const auto& e : enhancements)
    VEIL_CHECK_ARG(e.find(':') != std::string::npos && e.find('=') != std::string::npos, "--enhancements '", e,
                   "': expected design:key=value");
  if (!public_text.empty()) VEIL_CHECK_ARG(fs::is_regular_file(public_text), "--public-text: not a file: ", public_text.string());
  if (!secrets.empty()) VEIL_CHECK_ARG(fs::is_regular_file(secrets), "--secrets: not a file: ", secrets.string());
}

namespace {

json loss_curve(const fs::path& metrics) {
  json steps = json::array(), losses = json::array(), vsteps = json::array(), vlosses = json::array();
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step")) continue;
    if (j.contains("loss")) steps.push_back(j["step"]), losses.push_back(j["loss"]);
    if (j.contains("eval_loss")) vsteps.push_back(j["step"]), vlosses.push_back(j["eval_loss"]);
  }
  return {{"steps", steps}, {"loss", losses}, {"val_steps", vsteps}, {"val_loss", vlosses}};
}

// Next-token top-1 accuracy of base + adapter on the rows fine-tuning held out.
double heldout_accuracy(const EvaluateConfig& cfg, const CellInputs& sh, const fs::path& adapter_dir, double val_fraction) {
  auto loaded = model::load_model(cfg.model);
  loaded.model->set_lora(lora::load_peft_adapter(adapter_dir, loaded.model->config()));
  data::DatasetOptions dopt;
  dopt.max_examples = static_cast<std::size_t>(cfg.max_examples);
  data::RowOptions ropt;
  ropt.seq_len = cfg.seq_len;
  auto rows = data::make_rows(data::load_dataset(cfg.data, *sh.tok, dopt), *sh.tok, ropt);
  if (rows.num_rows() < 10) return std::nan("");
  auto n_val = std::max<std::int64_t>(1, static_cast<std::int64_t>(rows.num_rows() * val_fraction));
  std::vector<std::int64_t> idx;
  for (auto r = rows.num_rows() - n_val; r < rows.num_rows(); ++r) idx.push_back(r);
  auto b = data::make_batch(rows, idx);
  at::NoGradGuard g;
  auto pred = loaded.model->forward(b.input_ids).argmax(-1);
  auto mask = b.labels.ne(-100);
  return pred.eq(b.labels).logical_and(mask).sum().item<double>() / std::max<double>(1, mask.sum().item<double>());
}

json nan_to_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// The design a cell trains (its own, or the one an evaluation-only view names), when it has a
// session half.
std::optional<std::string> training_design(const designs::DesignSpec& spec) {
  const auto name = spec.evaluation.trains_as.empty() ? spec.name : spec.evaluation.trains_as;
  auto trained = designs::find_design_spec(name);
  if (!trained || !trained->open_session) return std::nullopt;
  return name;
}

// The cost columns of a cell from the typed cost (the design's, or its view's).
json cost_columns(const designs::DesignCost& c, const train::FinetuneResult& res) {
  json cost = {{"wall_seconds", res.seconds},
               {"train_tokens_per_s", res.tokens_per_second},
               {"peak_rss_mb", static_cast<double>(runtime::peak_rss_bytes()) / 1048576.0},
               {"client_flops_per_token", or_null(c.owner_flops_per_token)},
               {"bytes_per_token", or_null(c.bytes_per_token())},
               {"enclave_parameter_share", or_null(c.enclave_parameter_share)}};
  if (c.owner_parameter_share) cost["owner_parameter_share"] = *c.owner_parameter_share;
  cost["design_cost"] = c.to_json();
  return cost;
}

// The fine-tuning configuration of a cell (its attack round reuses it).
train::FinetuneConfig cell_config(const EvaluateConfig& cfg, const std::string& design, double val_fraction) {
  train::FinetuneConfig fc;
  fc.model = cfg.model;
  fc.data = cfg.data;
  fc.out = cfg.out / "cells" / design;
  fc.design = design;
  for (const auto& e : cfg.enhancements) {
    auto colon = e.find(':'), eq = e.find('=', colon);
    if (e.substr(0, colon) == design) fc.design_options[e.substr(colon + 1, eq - colon - 1)] = e.substr(eq + 1);
  }
  fc.max_steps = cfg.steps;
  fc.batch_size = cfg.batch_size;
  fc.seq_len = cfg.seq_len;
  fc.max_examples = cfg.max_examples;
  fc.eval_every = std::max<std::int64_t>(1, cfg.steps / 4);
  fc.val_fraction = val_fraction;
  fc.seed = cfg.seed;
  fc.progress = false;
  return fc;
}

}  // namespace

json run_evaluation(const EvaluateConfig& cfg_in) {
  EvaluateConfig cfg = cfg_in;
  cfg.validate();
  fs::create_directories(cfg.out);
  const auto t_start = std::chrono::steady_clock::now();
  auto sh = load_cell_inputs(cfg);
  PrivacyRound privacy_round(cfg, sh);

  const auto registered = train::available_designs();
  std::string evaluable;  // what --designs accepts here: designs with a session, and their views
  for (const auto& s : designs::design_specs())
    if (training_design(s)) evaluable += (evaluable.empty() ? "" : ", ") + s.name;
  const int n_cells = static_cast<int>(cfg.designs.size());
  util::Progress progress("evaluate", n_cells, "cell", cfg.progress);
  auto announce = [&](int k, const std::string& d, const std::string& phase) {
    if (cfg.progress)
      std::fprintf(stderr, "veil: evaluate [cell %d/%d] %s: %s\n", k + 1, n_cells, d.c_str(), phase.c_str());
  };

  std::map<std::string, std::pair<train::FinetuneResult, fs::path>> trained;  // by training design
  std::set<std::string> baseline_cells;
  json cells = json::array();
  const double val_fraction = 0.1;
  for (int k = 0; k < n_cells; ++k) {
    const auto& name = cfg.designs[k];
    json cell = {{"design", name}};
    const auto spec = designs::find_design_spec(name);
    const auto train_design = spec ? training_design(*spec) : std::nullopt;
    if (!train_design) {
      cell["status"] = "unavailable";
      cell["message"] = "design '" + name + "' is not available in this build (available: " + evaluable + ")";
      announce(k, name, "skipped (not available)");
      cells.push_back(cell);
      progress.advance(1, 1, name + " skipped");
      continue;
    }
    if (spec->evaluation.baseline) baseline_cells.insert(name);
    try {
      // Fine-tune (once per training design).
      if (!trained.count(*train_design)) {
        announce(k, name, "fine-tuning (" + std::to_string(cfg.steps) + " steps)");
        auto fc = cell_config(cfg, *train_design, val_fraction);
        trained[*train_design] = {train::run_finetune(fc), fc.out};
      }
      const auto& [res, dir] = trained.at(*train_design);
      const json report = res.summary.value("design_report", json::object());
      cell["status"] = "ok";
      cell["run_dir"] = fs::relative(dir, cfg.out).string();
      cell["loss_curve"] = loss_curve(dir / "metrics.jsonl");

      announce(k, name, "utility");
      const double val_loss = res.val_loss_after ? *res.val_loss_after : std::nan("");
      cell["utility"] = {{"val_loss", nan_to_null(val_loss)},
                         {"perplexity", nan_to_null(std::exp(val_loss))},
                         {"val_loss_before", res.val_loss_before ? json(*res.val_loss_before) : json(nullptr)},
                         {"next_token_accuracy", nan_to_null(heldout_accuracy(cfg, sh, dir, val_fraction))},
                         {"final_train_loss", res.final_loss}};
      if (report.contains("plugged_full_model_val_loss"))  // the val loss above is an emulator's
        cell["utility"]["plugged_full_model_val_loss"] = report["plugged_full_model_val_loss"];

      // What the untrusted party saw, and the attacks on it.
      const auto fc = cell_config(cfg, *train_design, val_fraction);
      cell["privacy"] = privacy_round.run(*spec, fc, dir, report, [&](const std::string& phase) { announce(k, name, phase); });

      // Cost: the session's, or the evaluation-only view's.
      const int cut = spec->evaluation.simulated_cut < 0 ? cfg.cut_layer : spec->evaluation.simulated_cut;
      cell["cost"] = cost_columns(spec->evaluation.view_cost ? spec->evaluation.view_cost(sh.pub, cut) : res.cost, res);
      if (!report.empty()) cell["design_report"] = report;
    } catch (const std::exception& e) {
      cell["status"] = "failed";
      cell["message"] = e.what();
    }
    cells.push_back(cell);
    progress.advance(1, 1, name + " done");
  }
  progress.finish();

  // Differences from the baseline (the design whose traits say it is the unprotected baseline).
  double plain_loss = std::nan("");
  for (const auto& c : cells)
    if (baseline_cells.count(c["design"].get<std::string>()) && c.contains("utility") &&
        c["utility"]["val_loss"].is_number())
      plain_loss = c["utility"]["val_loss"].get<double>();
  for (auto& c : cells)
    if (c.contains("utility") && c["utility"]["val_loss"].is_number())
      c["utility"]["delta_val_loss_vs_plain"] = nan_to_null(c["utility"]["val_loss"].get<double>() - plain_loss);

  json report = {{"veil_evaluate", 1},
                 {"model", cfg.model.string()},
                 {"data", cfg.data.string()},
                 {"public_text", cfg.public_text.string()},
                 {"secrets", cfg.secrets.string()},
                 {"config",
                  {{"designs", cfg.designs},
                   {"enhancements", cfg.enhancements},
                   {"steps", cfg.steps},
                   {"batch_size", cfg.batch_size},
                   {"seq_len", cfg.seq_len},
                   {"cut_layer", cfg.cut_layer},
                   {"attacks", cfg.attacks},
                   {"attack_records", sh.private_ids.size(0)},
                   {"attack_tokens", cfg.attack_tokens},
                   {"learned_steps", cfg.learned_steps},
                   {"gradient_steps", cfg.gradient_steps},
                   {"seed", cfg.seed}}},
                 {"registered_designs", registered},
                 {"notes", sh.notes},
                 {"cells", cells},
                 {"seconds", seconds_since(t_start)}};
  util::write_file_atomic(cfg.out / "report.json", report.dump(2) + "\n");
  util::write_file_atomic(cfg.out / "report.html", render_report_html(report));
  return report;
}

}  // namespace veil::eval
