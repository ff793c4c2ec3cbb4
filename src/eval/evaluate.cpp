#include "veil/eval/evaluate.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>

#include <ATen/ATen.h>

#include "veil/data/batch.h"
#include "veil/data/example.h"
#include "veil/eval/attacks/gradient_matching.h"
#include "veil/eval/attacks/he_security.h"
#include "veil/eval/attacks/inversion.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/eval/attack_round.h"
#include "veil/eval/model_attack.h"
#include "veil/eval/observation.h"
#include "veil/eval/report.h"
#include "veil/eval/scores.h"
#include "veil/he/parameters.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/runtime/threads.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/train/design.h"
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
  for (const auto& a : attacks)
    VEIL_CHECK_ARG(a == "nn" || a == "learned" || a == "gradient" || a == "bisr", "--attacks: unknown attack '", a,
                   "' (nn, learned, gradient, bisr)");
  for (const auto& e : enhancements)
    VEIL_CHECK_ARG(e.find(':') != std::string::npos && e.find('=') != std::string::npos, "--enhancements '", e,
                   "': expected design:key=value");
  if (!public_text.empty()) VEIL_CHECK_ARG(fs::is_regular_file(public_text), "--public-text: not a file: ", public_text.string());
  if (!secrets.empty()) VEIL_CHECK_ARG(fs::is_regular_file(secrets), "--secrets: not a file: ", secrets.string());
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A file named `name` in the data file's directory or one of its three parents' (and, for public
// text, their "public" subfolders): data/private/train/x.jsonl finds data/private/secrets.jsonl
// and data/public/persuasion.jsonl.
fs::path search_near(const fs::path& data, const std::vector<std::string>& names) {
  auto dir = fs::absolute(data).parent_path();
  for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path())
    for (const auto& n : names)
      if (fs::is_regular_file(dir / n)) return dir / n;
  return {};
}

// What every cell shares: the public model, tokenizer, private records under attack, public
// text, the secrets, and learned inverters per layer.
struct Shared {
  model::LoadedModel pub;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  at::Tensor private_rows;  // [N, T+1]: the attacked batch (inputs and their next tokens)
  at::Tensor private_ids;   // [N, T]: its inputs, what the attacks must recover
  std::vector<std::string> truths;
  std::vector<SecretRecord> secrets;
  at::Tensor public_ids;   // [M, T] or undefined
  std::map<int, std::unique_ptr<LearnedInverter>> inverters;
  json notes = json::array();
};

at::Tensor rows_of(const data::Dataset& ds, std::int64_t n, std::int64_t t) {
  std::vector<std::int64_t> ids;
  std::int64_t rows = 0;
  for (const auto& ex : ds.examples) {
    if (rows >= n) break;
    if (static_cast<std::int64_t>(ex.ids.size()) < t) continue;
    ids.insert(ids.end(), ex.ids.begin(), ex.ids.begin() + t);
    ++rows;
  }
  if (rows == 0) return {};
  return at::tensor(ids, at::kLong).reshape({rows, t});
}

std::string decode_row(const tokenizer::Tokenizer& tok, const at::Tensor& row) {
  auto r = row.to(at::kLong).contiguous();
  std::vector<tokenizer::TokenId> ids;
  for (std::int64_t i = 0; i < r.numel(); ++i) {
    auto v = r[i].item<std::int64_t>();
    ids.push_back(static_cast<tokenizer::TokenId>(std::clamp<std::int64_t>(v, 0, tok.vocab_size() - 1)));
  }
  return tok.decode(ids, true);
}

json score(const Shared& sh, const at::Tensor& guess, double secs) {
  std::vector<std::string> guesses;
  double acc = 0, rouge = 0;
  const auto n = sh.private_ids.size(0);
  for (std::int64_t b = 0; b < n; ++b) {
    auto t = sh.private_ids[b].contiguous(), g = guess[b].to(at::kLong).contiguous();
    acc += token_accuracy({t.data_ptr<std::int64_t>(), static_cast<std::size_t>(t.numel())},
                          {g.data_ptr<std::int64_t>(), static_cast<std::size_t>(g.numel())});
    guesses.push_back(decode_row(*sh.tok, guess[b]));
    rouge += rouge_l_f1(sh.truths[b], guesses.back());
  }
  auto s = secret_recovery(sh.truths, guesses, sh.secrets);
  json by_field = json::object();
  for (const auto& [f, rp] : s.by_field) by_field[f] = {{"recovered", rp.first}, {"present", rp.second}};
  return {{"token_accuracy", acc / n},
          {"rouge_l_f1", rouge / n},
          {"secret_fraction", s.fraction()},
          {"secrets_present", s.present},
          {"secrets_recovered", s.recovered},
          {"secrets_by_field", by_field},
          {"example", guesses.empty() ? "" : guesses[0]},
          {"seconds", secs}};
}

const LearnedInverter* inverter_for(Shared& sh, const EvaluateConfig& cfg, int layer) {
  if (!sh.public_ids.defined()) return nullptr;
  auto& slot = sh.inverters[layer];
  if (!slot) {
    LearnedInversionOptions o;
    o.steps = cfg.learned_steps;
    o.seed = cfg.seed;
    slot = std::make_unique<LearnedInverter>(LearnedInverter::train(*sh.pub.model, sh.public_ids, layer, o));
  }
  return slot.get();
}

// The attacks of cfg.attacks on the first activation view of `obs`.
json run_attacks(Shared& sh, const EvaluateConfig& cfg, const Observation& obs) {
  json out = json::object();
  if (obs.activations.empty()) return out;
  const auto& v = obs.activations.front();
  auto& m = *sh.pub.model;
  for (const auto& a : cfg.attacks) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      if (a == "nn") {
        auto ids = nn_inversion(m, v.hidden, v.layer);
        out[a] = score(sh, ids, seconds_since(t0));
      } else if (a == "learned") {
        const auto* inv = inverter_for(sh, cfg, v.layer);
        if (!inv) {
          out[a] = {{"skipped", "no public text (--public-text)"}};
          continue;
        }
        auto ids = inv->invert(v.hidden);
        out[a] = score(sh, ids, seconds_since(t0));
        out[a]["inverter_train_accuracy"] = inv->train_accuracy();
      } else if (a == "gradient") {
        if (!v.gradient.defined()) {
          out[a] = {{"skipped", "the party saw no gradient"}};
          continue;
        }
        GradientMatchingOptions o;
        o.steps = cfg.gradient_steps;
        o.seed = cfg.seed;
        auto ids = gradient_matching(m, v, o);
        out[a] = score(sh, ids, seconds_since(t0));
      } else if (a == "bisr") {
        const auto* inv = inverter_for(sh, cfg, v.layer);
        if (!inv) {
          out[a] = {{"skipped", "no public text (--public-text)"}};
          continue;
        }
        GradientMatchingOptions o;
        o.steps = std::max<std::int64_t>(1, cfg.gradient_steps / 3);
        o.discrete_sweeps = 1;  // the states pin each position given its prefix: one pass suffices
        o.seed = cfg.seed;
        auto ids = bisr(m, v, *inv, o);
        out[a] = score(sh, ids, seconds_since(t0));  // includes training the inverter when it ran first
      }
    } catch (const std::exception& e) {
      out[a] = {{"error", e.what()}};
    }
  }
  return out;
}

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
double heldout_accuracy(const EvaluateConfig& cfg, const Shared& sh, const fs::path& adapter_dir, double val_fraction) {
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

// Linear-layer parameters of blocks [first, last) (what a party multiplies by per token).
double linear_params(const model::LoadedModel& m, int first, int last) {
  double n = 0;
  for (const auto& [site, w] : m.executor->weights())
    if (site.layer >= first && site.layer < last) n += static_cast<double>(w.numel());
  return n;
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

// Attack 5 on an obfuscatune worker's audit: the raw keyed inputs x·R inverted as if plaintext,
// then the two-sided key of layer 0's q/k/v recovered from the obfuscated weights against the
// public model's and the inputs un-keyed and inverted.
json attack_obfuscation(Shared& sh, const Observation& obs) {
  json out = json::object();
  const KeyedInput* in = nullptr;
  for (const auto& k : obs.keyed_inputs)
    if (k.layer == 0 && !k.projections.empty() && k.projections.front() == static_cast<int>(model::Proj::kQ)) in = &k;
  if (!in) return out;
  auto& m = *sh.pub.model;
  const auto B = sh.private_ids.size(0), T = sh.private_ids.size(1);
  if (in->x.size(0) != B * T) {
    out["error"] = "the first keyed input holds " + std::to_string(in->x.size(0)) + " rows, the attacked batch " +
                   std::to_string(B * T);
    return out;
  }
  {
    const auto t0 = std::chrono::steady_clock::now();
    auto ids = invert_attention_inputs(m, in->x).reshape({B, T});
    out["nn_keyed_inputs"] = score(sh, ids, seconds_since(t0));
    out["nn_keyed_inputs"]["what"] = "x·R taken for plaintext normed inputs of block 0 (nearest neighbour)";
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<at::Tensor> pub, obf;
  std::vector<std::string> names;
  for (int p : in->projections) {
    const auto proj = model::proj_from_wire(p);
    auto key = "0." + std::string(model::proj_module_name(proj));
    auto w = sh.pub.executor->weights().find({0, proj});
    if (!obs.weights.count(key) || w == sh.pub.executor->weights().end()) continue;
    pub.push_back(w->second);
    obf.push_back(obs.weights.at(key));
    names.push_back(key);
  }
  if (pub.size() < 2) {
    out["key_recovery"] = {{"skipped", "fewer than two obfuscated weights share layer 0's input key"}};
    return out;
  }
  json j;
  j["one_sided_gram_distance"] = gram_distance(pub.front(), obf.front());
  auto rec = recover_two_sided_key(pub, obf);
  // The weights fix R̂ only up to a global sign ((−A)·W·(−R) = A·W·R): the sign whose un-keyed rows
  // lie nearer the public normed embeddings is kept.
  auto x = in->x.matmul(rec.input_key.t());
  auto ids = invert_attention_inputs(m, x, /*pick_sign=*/true).reshape({B, T});
  j = score(sh, ids, seconds_since(t0));
  j["one_sided_gram_distance"] = gram_distance(pub.front(), obf.front());
  j["spectrum_distance"] = rec.spectrum_distance;
  j["weights_relative_error"] = rec.relative_error;
  j["projections"] = names;
  j["what"] = "two-sided key of layer 0's q/k/v from the Gram matrices' eigenvectors against the public weights, "
              "then x = x*·R̂ᵀ inverted";
  out["key_recovery"] = j;
  return out;
}

double number_or_nan(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

json nan_to_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

json run_evaluation(const EvaluateConfig& cfg_in) {
  EvaluateConfig cfg = cfg_in;
  cfg.validate();
  std::optional<VictimModel> victim;  // built once, for the model-stealing rounds
  fs::create_directories(cfg.out);
  const auto t_start = std::chrono::steady_clock::now();

  Shared sh{model::load_model(cfg.model), nullptr, {}, {}, {}, {}, {}, {}, json::array()};
  const int L = sh.pub.model->config().num_layers;
  VEIL_CHECK_ARG(cfg.cut_layer < L, "--cut-layer ", cfg.cut_layer, " must be below the model's ", L, " layers");
  sh.tok = tokenizer::load_tokenizer(fs::is_directory(cfg.model) ? cfg.model : cfg.model.parent_path());
  {
    data::DatasetOptions dopt;
    dopt.max_examples = static_cast<std::size_t>(std::max<std::int64_t>(cfg.attack_records * 8, 64));
    sh.private_rows = rows_of(data::load_dataset(cfg.data, *sh.tok, dopt), cfg.attack_records, cfg.attack_tokens + 1);
    VEIL_CHECK_ARG(sh.private_rows.defined(), cfg.data.string(), ": no example has --attack-tokens + 1 (",
                   cfg.attack_tokens + 1, ") tokens");
    sh.private_ids = sh.private_rows.slice(1, 0, cfg.attack_tokens).contiguous();
    for (std::int64_t b = 0; b < sh.private_ids.size(0); ++b) sh.truths.push_back(decode_row(*sh.tok, sh.private_ids[b]));
  }
  if (cfg.secrets.empty()) cfg.secrets = search_near(cfg.data, {"secrets.jsonl"});
  if (!cfg.secrets.empty()) {
    sh.secrets = load_secrets(cfg.secrets);
  } else {
    sh.notes.push_back("no secrets.jsonl found near --data: secret-field recovery is 0 of 0");
  }
  if (cfg.public_text.empty()) cfg.public_text = search_near(cfg.data, {"public/persuasion.jsonl", "persuasion.jsonl"});
  if (!cfg.public_text.empty()) {
    data::DatasetOptions dopt;
    dopt.max_examples = static_cast<std::size_t>(cfg.public_rows * 2);
    sh.public_ids = rows_of(data::load_dataset(cfg.public_text, *sh.tok, dopt), cfg.public_rows, 32);
  } else {
    sh.notes.push_back("no public text found: learned inversion and BiSR skipped");
  }

  const auto registered = train::available_designs();
  auto is_registered = [&](const std::string& d) {
    return std::find(registered.begin(), registered.end(), d) != registered.end();
  };
  const int n_cells = static_cast<int>(cfg.designs.size());
  util::Progress progress("evaluate", n_cells, "cell", cfg.progress);
  auto announce = [&](int k, const std::string& d, const std::string& phase) {
    if (cfg.progress)
      std::fprintf(stderr, "veil: evaluate [cell %d/%d] %s: %s\n", k + 1, n_cells, d.c_str(), phase.c_str());
  };

  std::map<std::string, std::pair<train::FinetuneResult, fs::path>> trained;  // by training design
  json cells = json::array();
  const double val_fraction = 0.1;
  for (int k = 0; k < n_cells; ++k) {
    const auto& name = cfg.designs[k];
    json cell = {{"design", name}};
    const std::string train_design = name == kUnprotectedSplit ? "plain" : name;
    if (!is_registered(train_design)) {
      std::string avail;
      for (const auto& d : registered) avail += (avail.empty() ? "" : ", ") + d;
      cell["status"] = "unavailable";
      cell["message"] = "design '" + name + "' is not available in this build (available: " + avail + ", " +
                        kUnprotectedSplit + ")";
      announce(k, name, "skipped (not available)");
      cells.push_back(cell);
      progress.advance(1, 1, name + " skipped");
      continue;
    }
    try {
      // Fine-tune (once per training design).
      if (!trained.count(train_design)) {
        announce(k, name, "fine-tuning (" + std::to_string(cfg.steps) + " steps)");
        auto fc = cell_config(cfg, train_design, val_fraction);
        trained[train_design] = {train::run_finetune(fc), fc.out};
      }
      const auto& [res, dir] = trained.at(train_design);
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
      if (report.contains("plugged_full_model_val_loss"))  // offsite: val loss above is the emulator's
        cell["utility"]["plugged_full_model_val_loss"] = report["plugged_full_model_val_loss"];

      // What the untrusted party saw, and the attacks on it.
      json privacy = json::object();
      std::optional<Observation> obs;
      json report_now = report;
      auto labels = sh.private_rows.slice(1, 1).contiguous();
      if (name == "plain" || name == kUnprotectedSplit) {
        // No untrusted party exists in these runs: the view is simulated (and labelled so).
        announce(k, name, "attacks (simulated view)");
        auto attacked_model = model::load_model(cfg.model);
        attacked_model.model->set_lora(lora::load_peft_adapter(dir, attacked_model.model->config()));
        const int cut = name == "plain" ? 0 : cfg.cut_layer;
        obs = simulate_split_view(*attacked_model.model, sh.private_ids, labels, cut, name);
        privacy["view"] = name == "plain"
                              ? "simulated: plain on a remote worker receives the inputs of block 0 in the clear "
                                "(no untrusted party when plain runs locally)"
                              : "simulated: a split-learning server receives the hidden states at the input of block " +
                                    std::to_string(cfg.cut_layer) + " and computes their loss gradient";
      } else {
        announce(k, name, "attack round (one real step on the attacked records, audit tap)");
        auto round = run_attack_round(cell_config(cfg, train_design, val_fraction), sh.private_rows,
                                              dir / "attack-round" / "audit", dir, sh.pub.model->config().hidden_size);
        obs = std::move(round.observation);
        if (!round.design_report.empty()) report_now = round.design_report;
        privacy["audit"] = {{"dir", fs::relative(dir / "attack-round" / "audit", cfg.out).string()},
                            {"messages", round.messages},
                            {"bytes_received", obs->bytes_received},
                            {"bytes_sent", obs->bytes_sent},
                            {"adapter", round.adapter_restored ? "the cell's trained adapter" : round.adapter_note},
                            {"seconds", round.seconds}};
        for (const auto& [key, v] : obs->notes) privacy["audit"][key] = v;
        const std::string tap = "audit tap of " + (obs->party.empty() ? std::string("the untrusted party") : obs->party);
        announce(k, name, "attacks (" + tap + ")");
        if (!obs->activations.empty()) {
          const auto& v = obs->activations.front();
          privacy["view"] = tap + ": hidden states at the input of block " + std::to_string(v.layer) +
                            " as received (after the data owner's enhancements)" +
                            (v.gradient.defined() ? ", and the gradient at the input of block " +
                                                        std::to_string(v.grad_layer())
                                                  : std::string(", no gradient"));
        } else if (!obs->keyed_inputs.empty()) {
          privacy["view"] = tap + ": obfuscated weights of every block projection and keyed inputs x·R (" +
                            std::to_string(obs->keyed_inputs.size()) + " kinds)";
          privacy["attacks"] = attack_obfuscation(sh, *obs);
          if (sh.public_ids.defined() && sh.public_ids.size(0) >= 8) {
            // Model confidentiality: the worker against a proprietary fine-tune of the public base.
            announce(k, name, "model-stealing round (victim = base fine-tuned on public text)");
            const auto M = sh.public_ids.size(0), tune = M * 3 / 4;
            if (!victim) victim = fine_tune_victim(cfg.model, sh.public_ids.slice(0, 0, tune), cfg.out / "victim");
            auto vc = cell_config(cfg, train_design, val_fraction);
            vc.out = dir / "model-attack";
            auto ma = attack_obfuscatune_model(cfg.model, *victim, sh.private_rows, sh.public_ids.slice(0, tune), vc);
            privacy["model_confidentiality"] = ma.to_json();
            privacy["model_confidentiality"]["victim"] = {{"steps", victim->steps},
                                                          {"relative_drift", victim->relative_drift},
                                                          {"tuning_rows", tune},
                                                          {"held_out_rows", M - tune}};
            privacy["attacks"]["weight_recovery_inversion"] = score(sh, ma.inverted_ids, ma.attack_seconds);
            privacy["attacks"]["weight_recovery_inversion"]["what"] =
                "layer 0's q/k/v input key recovered by direction matching against the public base (the model "
                "is a fine-tune of it), x = x*·B̂ᵀ inverted";
            if (ma.mlp_inverted_ids.defined()) {
              privacy["attacks"]["permuted_mlp"] = score(sh, ma.mlp_inverted_ids, ma.attack_seconds);
              privacy["attacks"]["permuted_mlp"]["what"] = "layer 0's MLP activation act·P·D: " + ma.mlp_method;
            }
          }
        } else if (!obs->opaque_blobs.empty()) {
          privacy["view"] = tap + ": " + std::to_string(obs->opaque_blobs.size()) +
                            " opaque blobs (ciphertexts, keys, parameters) and no plaintext tensor";
        } else {
          privacy["view"] = tap + ": nothing received during tuning (" + std::to_string(round.messages) +
                            " messages)" +
                            (name == "offsite" ? std::string("; the model owner receives only the adapters afterwards")
                                               : std::string());
        }
      }
      std::optional<HeSecurity> sec;
      if (obs) sec = he_security_from_blobs(obs->opaque_blobs);
      if (!sec && report_now.contains("he_parameters")) {
        const auto& hp = report_now["he_parameters"];
        he::Parameters p;
        p.poly_degree = hp.value("poly_degree", 0u);
        p.log_q = hp.value("log_q", 0u);
        sec = he_security(p);
      }
      if (sec) {
        // HE: no attack on ciphertexts; the security level of the parameters the workers saw.
        privacy["he_security"] = sec->to_json();
        privacy["ciphertext_only"] = !obs || !obs->has_plaintext();
        if (obs && !obs->has_plaintext()) privacy["view"] = privacy["view"].get<std::string>() + " — ciphertexts only (RLWE): no attack is run on them; see he_security";
      }
      if (obs) {
        privacy["simulated"] = obs->simulated;
        privacy["party"] = obs->party;
        if (!obs->activations.empty()) {
          privacy["layer"] = obs->activations.front().layer;
          privacy["attacks"] = run_attacks(sh, cfg, *obs);
        }
        double best = 0, best_secret = 0, best_rouge = 0;
        const json attacks = privacy.value("attacks", json::object());
        for (const auto& [a, r] : attacks.items()) {
          if (!r.is_object()) continue;
          best = std::max(best, r.value("token_accuracy", 0.0));
          best_secret = std::max(best_secret, r.value("secret_fraction", 0.0));
          best_rouge = std::max(best_rouge, r.value("rouge_l_f1", 0.0));
        }
        if (privacy.contains("attacks") && !privacy["attacks"].empty()) {
          privacy["best_token_accuracy"] = best;
          privacy["best_rouge_l_f1"] = best_rouge;
          privacy["best_secret_fraction"] = best_secret;
        }
      }
      cell["privacy"] = privacy;

      // Cost.
      const double tokens_per_step = static_cast<double>(cfg.batch_size * cfg.seq_len);
      const auto H = sh.pub.model->config().hidden_size;
      json cost = {{"wall_seconds", res.seconds},
                   {"train_tokens_per_s", res.tokens_per_second},
                   {"peak_rss_mb", static_cast<double>(runtime::peak_rss_bytes()) / 1048576.0}};
      double client_flops = number_or_nan(report, "client_flops_per_token");
      double bytes_per_token = number_or_nan(report, "bytes_per_token");
      double enclave_share = number_or_nan(report, "enclave_parameter_share");
      if (name == "plain" && !std::isfinite(client_flops)) {
        client_flops = 4 * linear_params(sh.pub, 0, L);  // forward 2N + input gradients 2N
        if (!std::isfinite(bytes_per_token)) bytes_per_token = 0;
        if (!std::isfinite(enclave_share)) enclave_share = 0;
      } else if (name == kUnprotectedSplit) {
        client_flops = 4 * linear_params(sh.pub, 0, cfg.cut_layer);
        bytes_per_token = 2.0 * static_cast<double>(H) * 4;  // states up, gradients down, float32
        enclave_share = 0;
      }
      if (!std::isfinite(bytes_per_token) && report.contains("upload_bytes_per_token"))
        bytes_per_token = number_or_nan(report, "upload_bytes_per_token") + number_or_nan(report, "result_bytes_per_token");
      if (!std::isfinite(bytes_per_token) && report.contains("bytes_up_per_token"))  // split, gradfree
        bytes_per_token = number_or_nan(report, "bytes_up_per_token") + number_or_nan(report, "bytes_down_per_token");
      if (!std::isfinite(bytes_per_token) && report.contains("bytes_on_wire_during_training") && res.steps > 0)
        bytes_per_token = report["bytes_on_wire_during_training"].get<double>() / (tokens_per_step * static_cast<double>(res.steps));
      // Designs without an enclave hold none of the parameters in one.
      if (!std::isfinite(enclave_share) && (name == "split" || name == "gradfree" || name == "offsite" || name == "he-lora"))
        enclave_share = 0;
      if (!std::isfinite(bytes_per_token) && report.contains("bytes_total") && res.steps > 0)
        bytes_per_token = report["bytes_total"].get<double>() / (tokens_per_step * static_cast<double>(res.steps));
      cost["client_flops_per_token"] = nan_to_null(client_flops);
      cost["bytes_per_token"] = nan_to_null(bytes_per_token);
      cost["enclave_parameter_share"] = nan_to_null(enclave_share);
      if (report.contains("owner_parameter_share")) cost["owner_parameter_share"] = report["owner_parameter_share"];
      cell["cost"] = cost;
      if (!report.empty()) cell["design_report"] = report;
    } catch (const std::exception& e) {
      cell["status"] = "failed";
      cell["message"] = e.what();
    }
    cells.push_back(cell);
    progress.advance(1, 1, name + " done");
  }
  progress.finish();

  // Differences from plain.
  double plain_loss = std::nan("");
  for (const auto& c : cells)
    if (c["design"] == "plain" && c.contains("utility") && c["utility"]["val_loss"].is_number())
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
