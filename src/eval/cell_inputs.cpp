#include "eval/cell_inputs.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "veil/data/batch.h"
#include "veil/data/example.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/eval/attacks/registry.h"
#include "veil/model/causal_lm.h"
#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace fs = std::filesystem;
using nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

namespace {

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

}  // namespace

json score(const CellInputs& sh, const at::Tensor& guess, double secs) {
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

namespace {

const LearnedInverter* inverter_for(CellInputs& sh, const EvaluateConfig& cfg, int layer) {
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

}  // namespace

// The attacks of cfg.attacks (registered, veil/eval/attacks/registry.h) on the first activation
// view of `obs`; an attack that throws becomes {"error": ...}.
json run_attacks(CellInputs& sh, const EvaluateConfig& cfg, const Observation& obs) {
  json out = json::object();
  if (obs.activations.empty()) return out;
  const auto& v = obs.activations.front();
  AttackContext ctx{*sh.pub.model, v, [&] { return inverter_for(sh, cfg, v.layer); }, cfg.gradient_steps, cfg.seed};
  for (const auto& a : cfg.attacks) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto spec = find_attack(a);
      VEIL_CHECK_ARG(spec.has_value(), "unknown attack '", a, "'");
      auto r = spec->run(ctx);
      if (!r.ids.defined()) {
        out[a] = {{"skipped", r.skipped}};
        continue;
      }
      out[a] = score(sh, r.ids, seconds_since(t0));  // includes training the inverter when it ran first
      for (const auto& [k, x] : r.extra.items()) out[a][k] = x;
    } catch (const std::exception& e) {
      out[a] = {{"error", e.what()}};
    }
  }
  return out;
}

// Attack 5 on an obfuscatune worker's audit: the raw keyed inputs x·R inverted as if plaintext,
// then the two-sided key of layer 0's q/k/v recovered from the obfuscated weights against the
// public model's and the inputs un-keyed and inverted.
json attack_keyed_inputs(CellInputs& sh, const Observation& obs) {
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

CellInputs load_cell_inputs(EvaluateConfig& cfg) {
  CellInputs sh{model::load_model(cfg.model), nullptr, {}, {}, {}, {}, {}, {}, json::array()};
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

  return sh;
}

}  // namespace veil::eval
