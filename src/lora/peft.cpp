#include "veil/lora/peft.h"

#include <regex>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "veil/checkpoint/safetensors_file.h"
#include "veil/checkpoint/weights.h"
#include "veil/model/family.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::lora {
namespace fs = std::filesystem;
using nlohmann::json;
using model::LinearSite;
using model::Proj;

namespace {

constexpr const char* kPrefix = "base_model.model.";

// Every projection site of a model, LM head included.
std::vector<LinearSite> sites_of(const model::ModelConfig& m) {
  std::vector<LinearSite> out;
  auto bp = model::block_projections(m.family);
  for (int l = 0; l < m.num_layers; ++l)
    for (auto group : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out})
      for (Proj p : group) out.push_back({l, p});
  out.push_back({static_cast<int>(m.num_layers), Proj::kLmHead});
  return out;
}

// Unique short module names of the adapted projections, in site order ("q_proj", "c_attn", ...).
std::vector<std::string> target_names(const std::map<LinearSite, model::LoraPair>& pairs) {
  std::vector<std::string> names;
  for (const auto& [site, pair] : pairs) {
    std::string n(model::proj_module_name(site.proj));
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  return names;
}

}  // namespace

void save_peft_adapter(const fs::path& dir, const model::ModelConfig& m, const model::LoraAdapters& adapters,
                       const std::string& base) {
  fs::create_directories(dir);
  const auto& cfg = adapters.config();
  checkpoint::TensorMap tensors;
  for (const auto& [site, pair] : adapters.pairs()) {
    auto path = std::string(kPrefix) + model::proj_module_path(m.family, site.layer, site.proj);
    tensors[path + ".lora_A.weight"] = pair.a.detach().contiguous();
    tensors[path + ".lora_B.weight"] = pair.b.detach().contiguous();
  }
  json j = {{"peft_type", "LORA"},
            {"task_type", "CAUSAL_LM"},
            {"base_model_name_or_path", base},
            {"r", cfg.r},
            {"lora_alpha", cfg.alpha},
            {"lora_dropout", cfg.dropout},
            {"target_modules", target_names(adapters.pairs())},
            {"fan_in_fan_out", model::family_traits(m.family).keys.transposed},
            {"bias", "none"},
            {"use_rslora", false},
            {"use_dora", false},
            {"init_lora_weights", true},
            {"inference_mode", true},
            {"modules_to_save", nullptr},
            {"rank_pattern", json::object()},
            {"alpha_pattern", json::object()},
            {"revision", nullptr}};
  checkpoint::save_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  util::write_file_atomic(dir / "adapter_config.json", j.dump(2) + "\n");
}

std::shared_ptr<model::LoraAdapters> load_peft_adapter(const fs::path& dir, const model::ModelConfig& m) {
  const auto cfg_path = dir / "adapter_config.json";
  VEIL_CHECK_ARG(fs::exists(cfg_path), "no adapter_config.json in ", dir.string());
  json j = json::parse(util::read_file(cfg_path), nullptr, false);
  VEIL_CHECK_ARG(!j.is_discarded() && j.is_object(), cfg_path.string(), ": not a JSON object");
  auto field = [&](const char* k) -> const json& {
    VEIL_CHECK_ARG(j.contains(k) && !j[k].is_null(), cfg_path.string(), ": missing '", k, "'");
    return j[k];
  };
  VEIL_CHECK_ARG(j.value("peft_type", std::string("LORA")) == "LORA", cfg_path.string(), ": peft_type '",
                 j.value("peft_type", std::string()), "' is not LORA");
  auto flag = [&](const char* k) { return j.contains(k) && j[k].is_boolean() && j[k].get<bool>(); };
  VEIL_CHECK_ARG(!flag("use_dora"), cfg_path.string(), ": DoRA adapters are not supported");
  VEIL_CHECK_ARG(!flag("use_rslora"), cfg_path.string(), ": rsLoRA scaling is not supported");
  for (const char* k : {"rank_pattern", "alpha_pattern"})
    VEIL_CHECK_ARG(!j.contains(k) || j[k].is_null() || j[k].empty(), cfg_path.string(), ": per-module '", k,
                   "' is not supported");
  VEIL_CHECK_ARG(j.value("bias", std::string("none")) == "none", cfg_path.string(), ": trained biases (bias='",
                 j.value("bias", std::string()), "') are not supported");

  model::LoraConfig cfg;
  try {
    cfg.r = field("r").get<std::int64_t>();
    cfg.alpha = field("lora_alpha").get<double>();
    cfg.dropout = j.value("lora_dropout", 0.0);
  } catch (const json::exception& e) {
    throw std::invalid_argument(util::cat(cfg_path.string(), ": ", e.what()));
  }
  const json& targets = field("target_modules");
  // target_modules (a list, or a regex string) only says what PEFT adapted; the stored keys are
  // authoritative, so it is checked for form and the targets are then read off the keys.
  if (targets.is_string()) {
    try {
      (void)std::regex(targets.get<std::string>());
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(util::cat(cfg_path.string(), ": target_modules regex: ", e.what()));
    }
  } else {
    VEIL_CHECK_ARG(targets.is_array(), cfg_path.string(), ": target_modules must be a list or a string");
    for (const auto& t : targets)
      VEIL_CHECK_ARG(t.is_string(), cfg_path.string(), ": target_modules must hold strings");
  }

  const auto st_path = dir / "adapter_model.safetensors";
  VEIL_CHECK_ARG(fs::exists(st_path), "no adapter_model.safetensors in ", dir.string());
  auto tensors = checkpoint::load_weights(st_path);
  std::map<LinearSite, model::LoraPair> pairs;
  for (const auto& site : sites_of(m)) {
    auto path = model::proj_module_path(m.family, site.layer, site.proj);
    auto key = std::string(kPrefix) + path;
    auto a = tensors.find(key + ".lora_A.weight");
    auto b = tensors.find(key + ".lora_B.weight");
    if (a == tensors.end() && b == tensors.end()) continue;
    VEIL_CHECK_ARG(a != tensors.end() && b != tensors.end(), st_path.string(), ": ", key,
                   " has only one of lora_A / lora_B");
    pairs[site] = {a->second, b->second};
    tensors.erase(a);
    tensors.erase(tensors.find(key + ".lora_B.weight"));
  }
  VEIL_CHECK_ARG(tensors.empty(), st_path.string(), ": unexpected tensor '", tensors.empty() ? "" : tensors.begin()->first,
                 "' (not a LoRA weight of this ", model::family_name(m.family), " model)");
  VEIL_CHECK_ARG(!pairs.empty(), st_path.string(), ": holds no LoRA weights");
  cfg.target_modules = target_names(pairs);
  return std::make_shared<model::LoraAdapters>(m, cfg, std::move(pairs));
}

void merge_adapter(model::LinearWeights& weights, const model::LoraAdapters& adapters) {
  at::NoGradGuard g;
  for (const auto& [site, pair] : adapters.pairs()) {
    auto it = weights.find(site);
    VEIL_CHECK_ARG(it != weights.end(), "merge_adapter: the model has no weight for adapted projection ",
                   model::proj_module_name(site.proj), " at layer ", site.layer);
    // Copy first: the tied LM head shares storage with the embedding.
    it->second = it->second + adapters.delta_weight(site);
  }
}

}  // namespace veil::lora
