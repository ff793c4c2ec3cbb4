// The model-stealing matrix against obfuscatune's worker: a proprietary fine-tune of the public
// base (every block projection, Adam on public text), one real step of the design per variant and
// key kind on private records, and the worker's attacks on its audit tap (weight recovery by
// direction matching, inversion through the recovered key, the permuted MLP values). Prints one
// line per row, then one JSON line with every row.
//
//   bench_model_attacks --model DIR --data clinic_records.jsonl --public persuasion.jsonl
//       [--victim-steps 40] [--victim-lr 5e-4] [--victim-rows 96] [--records 4] [--tokens 32] [--out DIR]
//       [--rows variant=paper;variant=full;...]   (';'-separated option sets, ',' between options)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "veil/designs/registry.h"
#include "veil/eval/model_attack.h"
#include "veil/eval/scores.h"
#include "veil/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace veil;

namespace {

at::Tensor rows_of(const tokenizer::Tokenizer& tok, const fs::path& file, int n, int t, int skip) {
  std::ifstream in(file);
  if (!in) throw std::invalid_argument("cannot read " + file.string());
  std::string line;
  std::vector<std::int64_t> ids;
  int rows = 0;
  for (int k = 0; rows < n && std::getline(in, line); ++k) {
    if (k < skip) continue;
    auto text = nlohmann::json::parse(line).at("text").get<std::string>();
    auto e = tok.encode(text, true);
    if (static_cast<int>(e.size()) < t) continue;
    ids.insert(ids.end(), e.begin(), e.begin() + t);
    ++rows;
  }
  if (rows == 0) throw std::invalid_argument(file.string() + " has no record of " + std::to_string(t) + " tokens");
  return at::tensor(ids, at::kLong).reshape({rows, t});
}

std::vector<std::map<std::string, std::string>> parse_rows(const std::string& spec) {
  std::vector<std::map<std::string, std::string>> out;
  std::stringstream rows(spec);
  std::string row;
  while (std::getline(rows, row, ';')) {
    std::map<std::string, std::string> opts;
    std::stringstream kv(row);
    std::string item;
    while (std::getline(kv, item, ',')) {
      if (item.empty() || item == "default") continue;
      auto eq = item.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--rows: '" + item + "' is not key=value");
      opts[item.substr(0, eq)] = item.substr(eq + 1);
    }
    out.push_back(opts);
  }
  return out;
}

double acc(const at::Tensor& truth, const at::Tensor& guess) {
  if (!guess.defined()) return -1;
  return truth.eq(guess).to(at::kDouble).mean().item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::map<std::string, std::string> a{{"--victim-steps", "40"}, {"--victim-rows", "96"}, {"--records", "4"},
                                         {"--tokens", "32"}, {"--out", "/tmp/veil-bench-model-attacks"},
                                         {"--rows", "variant=paper;variant=full;default;mlp=full;variant=paper,matrix=orthogonal;"
                                                    "variant=full,matrix=orthogonal;variant=paper,matrix=gaussian;"
                                                    "variant=paper,kappa=10;variant=full,kappa=10"}};
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      if (i + 1 >= argc || k.rfind("--", 0) != 0) throw std::invalid_argument("usage: " + k + " needs a value");
      a[k] = argv[++i];
    }
    for (const char* req : {"--model", "--data", "--public"})
      if (!a.count(req)) throw std::invalid_argument(std::string("missing ") + req);
    designs::register_builtin_designs();
    const fs::path model = a["--model"], out = a["--out"];
    auto tok = tokenizer::load_tokenizer(model);
    const int T = std::stoi(a["--tokens"]);
    auto tune = rows_of(*tok, a["--public"], std::stoi(a["--victim-rows"]), 33, 0);
    auto held = rows_of(*tok, a["--public"], 32, 33, 600);
    auto rows = rows_of(*tok, a["--data"], std::stoi(a["--records"]), T + 1, 0);
    eval::VictimOptions vo;
    vo.steps = std::stoi(a["--victim-steps"]);
    if (a.count("--victim-lr")) vo.lr = std::stod(a["--victim-lr"]);
    auto victim = eval::fine_tune_victim(model, tune, out / "victim", vo);
    std::printf("victim: %d Adam steps on %lld public rows, loss %.3f -> %.3f, relative drift %.4f\n", victim.steps,
                static_cast<long long>(tune.size(0)), victim.train_loss_before, victim.train_loss_after,
                victim.relative_drift);
    const auto ids = rows.slice(1, 0, T);
    nlohmann::json all = nlohmann::json::array();
    int k = 0;
    for (const auto& opts : parse_rows(a["--rows"])) {
      train::FinetuneConfig fc;
      fc.data = a["--data"];
      fc.out = out / ("row-" + std::to_string(k++));
      fc.design = "obfuscatune";
      fc.design_options = opts;
      auto r = eval::attack_obfuscatune_model(model, victim, rows, held, fc);
      auto j = r.to_json();
      j["inversion_token_accuracy"] = acc(ids, r.inverted_ids);
      j["mlp_inversion_token_accuracy"] = acc(ids, r.mlp_inverted_ids);
      std::printf("%-42s rows %5.1f%% | update %6.1f%% rows rec %5.1f%% | loss true %.3f base %.3f rec %.3f "
                  "(gap %6.1f%%) | inversion %5.1f%% mlp %5.1f%% | %.1f s\n",
                  nlohmann::json(opts).dump().c_str(), 100 * r.recovery.row_fraction(),
                  100 * r.confidentiality.update_recovered, 100 * r.confidentiality.rows_recovered,
                  r.confidentiality.loss_true, r.confidentiality.loss_base, r.confidentiality.loss_recovered,
                  100 * r.confidentiality.loss_gap_closed(), 100 * acc(ids, r.inverted_ids),
                  100 * acc(ids, r.mlp_inverted_ids), r.attack_seconds);
      all.push_back(j);
    }
    nlohmann::json summary{{"bench", "model_attacks"},
                           {"victim", {{"steps", victim.steps}, {"relative_drift", victim.relative_drift}}},
                           {"rows", all}};
    std::cout << summary.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model_attacks: error: %s\n", e.what());
    return 2;
  }
}
