// The data owner's recipe settings and generation requests as JSON (enclave_client.h): strict
// parsers of what a peer sends the enclave, each count bounded (kEnclaveBounds).
#include <initializer_list>

#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

// Reads integer `key` of `j` (absent: `def`), in [lo, hi]: every count a peer sends is bounded.
std::int64_t integer(const nlohmann::json& j, const char* what, const char* key, std::int64_t def, std::int64_t lo,
                     std::int64_t hi) {
  if (!j.contains(key)) return def;
  VEIL_CHECK_ARG(j.at(key).is_number_integer(), what, ": '", key, "' must be an integer");
  VEIL_CHECK_ARG(!j.at(key).is_number_unsigned() || j.at(key).get<std::uint64_t>() <= static_cast<std::uint64_t>(hi),
                 what, ": '", key, "' must be at most ", hi);
  const auto v = j.at(key).get<std::int64_t>();
  VEIL_CHECK_ARG(v >= lo && v <= hi, what, ": '", key, "' must be in [", lo, ", ", hi, "]");
  return v;
}

// Reads number `key` of `j` (absent: `def`), in [lo, hi].
double number(const nlohmann::json& j, const char* what, const char* key, double def, double lo, double hi) {
  if (!j.contains(key)) return def;
  VEIL_CHECK_ARG(j.at(key).is_number(), what, ": '", key, "' must be a number");
  const double v = j.at(key).get<double>();
  VEIL_CHECK_ARG(v >= lo && v <= hi, what, ": '", key, "' must be in [", lo, ", ", hi, "]");
  return v;
}

void only_keys(const nlohmann::json& j, const char* what, std::initializer_list<const char*> known) {
  VEIL_CHECK_ARG(j.is_object(), what, " must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    VEIL_CHECK_ARG(ok, what, ": unknown field '", key, "'");
  }
}

}  // namespace

EnclaveFinetune EnclaveFinetune::from_config(const train::FinetuneConfig& cfg) {
  EnclaveFinetune r;
  r.steps = cfg.max_steps;
  r.epochs = cfg.epochs;
  r.batch_size = cfg.batch_size;
  r.grad_accum = cfg.grad_accum;
  r.seq_len = cfg.seq_len;
  r.max_examples = cfg.max_examples;
  r.eval_every = cfg.eval_every;
  r.rank = cfg.lora.r;
  r.alpha = cfg.lora.alpha;
  r.dropout = cfg.lora.dropout;
  r.targets = cfg.lora.target_modules;
  r.lr = cfg.optim.lr;
  r.weight_decay = cfg.optim.weight_decay;
  r.warmup = cfg.optim.warmup_steps;
  r.max_grad_norm = cfg.optim.max_grad_norm;
  r.val_fraction = cfg.val_fraction;
  r.layout = cfg.layout.value_or("");
  r.seed = cfg.seed;
  return r;
}

void EnclaveFinetune::apply_to(train::FinetuneConfig& cfg) const {
  cfg.max_steps = steps;
  cfg.epochs = epochs;
  cfg.batch_size = batch_size;
  cfg.grad_accum = grad_accum;
  cfg.seq_len = seq_len;
  cfg.max_examples = max_examples;
  cfg.eval_every = eval_every;
  cfg.lora.r = rank;
  cfg.lora.alpha = alpha;
  cfg.lora.dropout = dropout;
  cfg.lora.target_modules = targets;
  cfg.optim.lr = lr;
  cfg.optim.weight_decay = weight_decay;
  cfg.optim.warmup_steps = warmup;
  cfg.optim.max_grad_norm = max_grad_norm;
  cfg.val_fraction = val_fraction;
  if (!layout.empty()) cfg.layout = layout;
  cfg.seed = seed;
}

nlohmann::json EnclaveFinetune::to_json() const {
  return {{"steps", steps},         {"epochs", epochs},       {"batch_size", batch_size},
          {"grad_accum", grad_accum}, {"seq_len", seq_len},   {"max_examples", max_examples},
          {"eval_every", eval_every}, {"rank", rank},         {"warmup", warmup},
          {"lr", lr},               {"alpha", alpha},         {"dropout", dropout},
          {"weight_decay", weight_decay}, {"max_grad_norm", max_grad_norm}, {"val_fraction", val_fraction},
          {"targets", targets},     {"layout", layout},       {"seed", seed}};
}

EnclaveFinetune EnclaveFinetune::from_json(const nlohmann::json& j) {
  constexpr const char* what = "finetune config";
  only_keys(j, what,
            {"steps", "epochs", "batch_size", "grad_accum", "seq_len", "max_examples", "eval_every", "rank", "warmup",
             "lr", "alpha", "dropout", "weight_decay", "max_grad_norm", "val_fraction", "targets", "layout", "seed"});
  EnclaveFinetune r;
  const auto& b = kEnclaveBounds;
  r.steps = integer(j, what, "steps", r.steps, 0, b.steps);
  r.epochs = integer(j, what, "epochs", r.epochs, 1, b.epochs);
  r.batch_size = integer(j, what, "batch_size", r.batch_size, 1, b.batch_size);
  r.grad_accum = integer(j, what, "grad_accum", r.grad_accum, 1, b.grad_accum);
  r.seq_len = integer(j, what, "seq_len", r.seq_len, 2, b.seq_len);
  VEIL_CHECK_ARG(r.batch_size * r.seq_len <= b.batch_tokens, what, ": batch_size x seq_len must be at most ",
                 b.batch_tokens, " tokens");
  r.max_examples = integer(j, what, "max_examples", r.max_examples, 0, b.examples);
  r.eval_every = integer(j, what, "eval_every", r.eval_every, 0, b.steps);
  r.rank = integer(j, what, "rank", r.rank, 1, b.rank);
  r.warmup = integer(j, what, "warmup", r.warmup, 0, b.steps);
  r.seed = static_cast<std::uint64_t>(integer(j, what, "seed", 0, 0, std::int64_t{1} << 62));
  r.lr = number(j, what, "lr", r.lr, 1e-12, 1e3);
  r.alpha = number(j, what, "alpha", r.alpha, 1e-12, 1e9);
  r.dropout = number(j, what, "dropout", r.dropout, 0, 0.99);
  r.weight_decay = number(j, what, "weight_decay", r.weight_decay, 0, 1e3);
  r.max_grad_norm = number(j, what, "max_grad_norm", r.max_grad_norm, -1e9, 1e9);
  r.val_fraction = number(j, what, "val_fraction", r.val_fraction, 0, 0.99);
  if (j.contains("targets")) {
    VEIL_CHECK_ARG(j.at("targets").is_array() && !j.at("targets").empty() && j.at("targets").size() <= 64,
                   what, ": 'targets' must be a non-empty array of module names");
    r.targets.clear();
    for (const auto& t : j.at("targets")) {
      VEIL_CHECK_ARG(t.is_string() && !t.get<std::string>().empty() && t.get<std::string>().size() <= 128, what,
                     ": 'targets' must hold module names");
      r.targets.push_back(t.get<std::string>());
    }
  }
  if (j.contains("layout")) {
    VEIL_CHECK_ARG(j.at("layout").is_string(), what, ": 'layout' must be a string");
    r.layout = j.at("layout").get<std::string>();
    VEIL_CHECK_ARG(r.layout.empty() || r.layout == "pack" || r.layout == "pad", what,
                   ": 'layout' must be pack, pad or empty");
  }
  return r;
}

nlohmann::json EnclaveGenerate::to_json() const {
  return {{"prompt", prompt},       {"max_new_tokens", gen.max_new_tokens}, {"temperature", gen.temperature},
          {"top_k", gen.top_k},     {"top_p", gen.top_p},                   {"seed", gen.seed},
          {"stop_tokens", gen.stop_tokens}, {"eos_stop", eos_stop}};
}

EnclaveGenerate EnclaveGenerate::from_json(const nlohmann::json& j) {
  constexpr const char* what = "generate request";
  only_keys(j, what, {"prompt", "max_new_tokens", "temperature", "top_k", "top_p", "seed", "stop_tokens", "eos_stop"});
  EnclaveGenerate r;
  if (j.contains("prompt")) {
    VEIL_CHECK_ARG(j.at("prompt").is_string(), what, ": 'prompt' must be a string");
    r.prompt = j.at("prompt").get<std::string>();
    VEIL_CHECK_ARG(r.prompt.size() <= kEnclaveBounds.prompt_bytes, what, ": 'prompt' is longer than ",
                   kEnclaveBounds.prompt_bytes, " bytes");
  }
  r.gen.max_new_tokens = integer(j, what, "max_new_tokens", r.gen.max_new_tokens, 0, kEnclaveBounds.new_tokens);
  r.gen.temperature = number(j, what, "temperature", r.gen.temperature, 0, 100);
  r.gen.top_k = integer(j, what, "top_k", r.gen.top_k, 0, std::int64_t{1} << 24);
  r.gen.top_p = number(j, what, "top_p", r.gen.top_p, 1e-6, 1);
  r.gen.seed = static_cast<std::uint64_t>(integer(j, what, "seed", 0, 0, std::int64_t{1} << 62));
  if (j.contains("stop_tokens")) {
    VEIL_CHECK_ARG(j.at("stop_tokens").is_array() && j.at("stop_tokens").size() <= 1024, what,
                   ": 'stop_tokens' must be an array of token ids");
    for (const auto& t : j.at("stop_tokens")) {
      VEIL_CHECK_ARG(t.is_number_integer() && t.get<std::int64_t>() >= 0 && t.get<std::int64_t>() < (std::int64_t{1} << 31), what, ": 'stop_tokens' must hold token ids");
      r.gen.stop_tokens.push_back(t.get<std::int64_t>());
    }
  }
  if (j.contains("eos_stop")) {
    VEIL_CHECK_ARG(j.at("eos_stop").is_boolean(), what, ": 'eos_stop' must be true or false");
    r.eos_stop = j.at("eos_stop").get<bool>();
  }
  r.gen.validate();
  return r;
}

}  // namespace veil::designs::obfuscatune
