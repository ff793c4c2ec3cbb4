// The model and data owners' side of `veil enclave` (enclave_client.h).
#include "veil/designs/obfuscatune/enclave_client.h"

#include <cstdio>
#include <initializer_list>

#include "designs/obfuscatune/bundle.h"
#include "designs/obfuscatune/sealed_message.h"
#include "veil/designs/obfuscatune/options.h"
#include "veil/transport/connect.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace fs = std::filesystem;

namespace {

std::size_t send_sealed(transport::Endpoint& enclave, const std::string& op, const tee::AttestationReport& report,
                        const std::string& payload, std::size_t chunk_bytes) {
  VEIL_CHECK_ARG(chunk_bytes > 0, "chunk size must be positive");
  const std::string aad = report.hash();
  tee::Sealer sealer(report.enclave_key, aad);
  const std::string stream = tee::to_hex(tee::random_bytes(16));
  std::size_t pos = 0;
  std::int32_t index = 0;
  do {
    const std::size_t n = std::min(chunk_bytes, payload.size() - pos);
    const bool final = pos + n == payload.size();
    transport::Message q;
    q.op = op;
    q.meta = {{"stream", stream}, {"report", tee::to_hex(aad)}};
    q.ints = {index, final ? 1 : 0};
    if (index == 0) q.blobs["header"] = sealer.header();
    q.blobs["chunk"] = sealer.seal(payload.substr(pos, n), final);
    (void)enclave.call(std::move(q));
    pos += n;
    ++index;
  } while (pos < payload.size());
  return payload.size();
}

// Reads integer `key` of `j` (absent: `def`), in [lo, 2^40].
std::int64_t integer(const nlohmann::json& j, const char* what, const char* key, std::int64_t def, std::int64_t lo) {
  if (!j.contains(key)) return def;
  VEIL_CHECK_ARG(j.at(key).is_number_integer(), what, ": '", key, "' must be an integer");
  const auto v = j.at(key).get<std::int64_t>();
  VEIL_CHECK_ARG(v >= lo, what, ": '", key, "' must be >= ", lo);
  VEIL_CHECK_ARG(v <= (std::int64_t{1} << 40), what, ": '", key, "' is too large");
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

tee::AttestationReport attest_enclave(transport::Endpoint& enclave, const std::string& expected_measurement,
                                      bool allow_simulated) {
  VEIL_CHECK_ARG(expected_measurement.size() == 64, "expected measurement must be 64 hex characters (SHA-256)");
  const std::string nonce = tee::random_bytes(32);
  transport::Message q;
  q.op = "enclave.report";
  q.blobs["nonce"] = nonce;
  auto reply = enclave.call(std::move(q));
  auto report = tee::AttestationReport::from_json(reply.blob("report"));
  tee::verifier_for(report)->verify(report, {expected_measurement, nonce, allow_simulated});
  return report;
}

std::size_t seal_model(transport::Endpoint& enclave, const tee::AttestationReport& report, const fs::path& model,
                       std::size_t chunk_bytes) {
  return send_sealed(enclave, "enclave.seal_model", report, pack_bundle(read_bundle(model)), chunk_bytes);
}

std::size_t seal_data(transport::Endpoint& enclave, const tee::AttestationReport& report, const fs::path& data,
                      const tee::SealingKey& owner, std::size_t chunk_bytes) {
  VEIL_CHECK_ARG(fs::is_regular_file(data), "--data ", data.string(), ": not a file");
  const std::string ext = data.extension().string();
  Bundle b{{"data" + (ext.empty() ? std::string(".txt") : ext), util::read_file(data)}, {"owner.pub", owner.public_key()}};
  return send_sealed(enclave, "enclave.seal_data", report, pack_bundle(b), chunk_bytes);
}


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
  r.steps = integer(j, what, "steps", r.steps, 0);
  r.epochs = integer(j, what, "epochs", r.epochs, 1);
  r.batch_size = integer(j, what, "batch_size", r.batch_size, 1);
  r.grad_accum = integer(j, what, "grad_accum", r.grad_accum, 1);
  r.seq_len = integer(j, what, "seq_len", r.seq_len, 2);
  r.max_examples = integer(j, what, "max_examples", r.max_examples, 0);
  r.eval_every = integer(j, what, "eval_every", r.eval_every, 0);
  r.rank = integer(j, what, "rank", r.rank, 1);
  r.warmup = integer(j, what, "warmup", r.warmup, 0);
  r.seed = static_cast<std::uint64_t>(integer(j, what, "seed", 0, 0));
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

nlohmann::json finetune_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                   const tee::SealingKey& owner, const EnclaveFinetune& request, const fs::path& out) {
  transport::Message q;
  q.op = "enclave.finetune";
  q.meta["config"] = request.to_json().dump();
  auto reply = enclave.call(std::move(q));
  auto files = unpack_bundle(tee::open(owner, report.hash(), sealed_from(reply, "enclave.finetune")));
  for (const char* name : {"adapter_config.json", "adapter_model.safetensors", "summary.json"})
    VEIL_CHECK_ARG(files.count(name), "enclave.finetune: the sealed reply lacks ", name);
  fs::create_directories(out);
  for (const auto& [name, bytes] : files) util::write_file_atomic(out / name, bytes);
  return nlohmann::json::parse(files.at("summary.json"));
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
  }
  r.gen.max_new_tokens = integer(j, what, "max_new_tokens", r.gen.max_new_tokens, 0);
  r.gen.temperature = number(j, what, "temperature", r.gen.temperature, 0, 100);
  r.gen.top_k = integer(j, what, "top_k", r.gen.top_k, 0);
  r.gen.top_p = number(j, what, "top_p", r.gen.top_p, 1e-6, 1);
  r.gen.seed = static_cast<std::uint64_t>(integer(j, what, "seed", 0, 0));
  if (j.contains("stop_tokens")) {
    VEIL_CHECK_ARG(j.at("stop_tokens").is_array() && j.at("stop_tokens").size() <= 1024, what,
                   ": 'stop_tokens' must be an array of token ids");
    for (const auto& t : j.at("stop_tokens")) {
      VEIL_CHECK_ARG(t.is_number_integer() && t.get<std::int64_t>() >= 0, what, ": 'stop_tokens' must hold token ids");
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

EnclaveGeneration generate_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                      const EnclaveGenerate& request, const fs::path& adapter) {
  tee::SealingKey reply_key;  // this call's: the reply opens nowhere else
  Bundle b{{"request.json", request.to_json().dump()}, {"owner.pub", reply_key.public_key()}};
  if (!adapter.empty()) {
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"}) {
      VEIL_CHECK_ARG(fs::is_regular_file(adapter / name), "--adapter ", adapter.string(), ": ", name, " is missing");
      b[name] = util::read_file(adapter / name);
    }
  }
  const std::string aad = report.hash();
  transport::Message q;
  q.op = "enclave.generate";
  q.meta["report"] = tee::to_hex(aad);
  put_sealed(q, tee::seal(report.enclave_key, aad, pack_bundle(b)));
  auto reply = enclave.call(std::move(q));
  auto files = unpack_bundle(tee::open(reply_key, aad, sealed_from(reply, "enclave.generate")));
  VEIL_CHECK_ARG(files.count("result.json"), "enclave.generate: the sealed reply lacks result.json");
  const auto j = nlohmann::json::parse(files.at("result.json"));
  EnclaveGeneration r;
  r.tokens = j.at("tokens").get<std::vector<std::int64_t>>();
  r.text = j.at("text").get<std::string>();
  return r;
}

AttestedEnclave connect_attested(const train::PartyOptions& parties,
                                 const std::map<std::string, std::string>& design_options) {
  VEIL_CHECK_ARG(!parties.enclave.empty(), "--enclave HOST:PORT is required");
  const auto m = design_options.find("measurement");
  VEIL_CHECK_ARG(m != design_options.end(),
                 "--enclave needs --opt measurement=HEX: the measurement the enclave must report (`veil enclave "
                 "--print-measurement` with the enclave's options)");
  VEIL_CHECK_ARG(m->second.size() == 64 && m->second.find_first_not_of("0123456789abcdef") == std::string::npos,
                 "--opt measurement: expected 64 lower-case hex characters (SHA-256), got '", m->second, "'");
  auto expected = design_options;
  expected.erase("measurement");
  (void)ObfuscatuneOptions::parse(expected);  // unknown keys and bad values fail before connecting
  transport::ConnectOptions o;
  o.tls = {parties.tls_cert, parties.tls_key, parties.tls_ca, parties.insecure};
  o.tls_server_name = parties.tls_server_name;
  AttestedEnclave e;
  e.endpoint = transport::connect(parties.enclave, o);
  e.report = attest_enclave(*e.endpoint, m->second);
  // The measurement already covers the options; this turns a mismatch into a readable refusal.
  nlohmann::json measured;
  try {
    measured = nlohmann::json::parse(e.report.config_json).at("options");
  } catch (const nlohmann::json::exception&) {
    throw tee::AttestationError("the enclave's report carries no readable configuration");
  }
  for (const auto& [key, value] : design_options) {
    if (key == "measurement") continue;
    const std::string theirs = measured.contains(key) ? measured.at(key).get<std::string>() : "(default)";
    VEIL_CHECK_ARG(theirs == value, "--opt ", key, "=", value, ": the enclave at ", parties.enclave, " runs ", key,
                   "=", theirs, " (its options are part of its measurement; an --opt given with --enclave is a check)");
  }
  return e;
}

train::FinetuneResult finetune_through_enclave(const train::FinetuneConfig& cfg) {
  VEIL_CHECK_ARG(cfg.design == "obfuscatune", "--enclave: only --design obfuscatune fine-tunes in an enclave");
  auto refuse = [](bool given, const char* flag, const char* why) {
    VEIL_CHECK_ARG(!given, flag, " cannot be used with --enclave: ", why);
  };
  const char* enclave_has = "the enclave holds the model its owner sealed (`veil provider seal`)";
  refuse(!cfg.model.empty(), "--model", enclave_has);
  refuse(!cfg.tokenizer.empty(), "--tokenizer", enclave_has);
  refuse(!cfg.parties.workers.empty(), "--workers", "the enclave's operator chooses the workers (`veil enclave --workers`)");
  refuse(!cfg.parties.audit_dir.empty(), "--audit-dir", "the workers run beside the enclave (`veil worker --audit-dir`)");
  refuse(!cfg.val_data.empty(), "--val-data", "only --data is sealed to the enclave (use --val-fraction)");
  refuse(cfg.resume, "--resume", "checkpoints stay in the enclave's memory and end with the run");
  refuse(cfg.save_every != 0, "--save-every", "checkpoints stay in the enclave's memory and end with the run");
  VEIL_CHECK_ARG(!cfg.data.empty(), "--data is required");
  VEIL_CHECK_ARG(!cfg.out.empty(), "--out is required");
  VEIL_CHECK_ARG(fs::is_regular_file(cfg.data), "--data ", cfg.data.string(), ": not a file");
  const auto request = EnclaveFinetune::from_config(cfg);
  (void)EnclaveFinetune::from_json(request.to_json());  // bad values fail here, before any sealing

  auto e = connect_attested(cfg.parties, cfg.design_options);
  if (cfg.progress)
    std::fprintf(stderr, "veil: enclave %s attested (measurement %s%s); sealing the data to it\n",
                 cfg.parties.enclave.c_str(), e.report.measurement.c_str(),
                 e.report.simulated ? ", SIMULATED attestation" : "");
  tee::SealingKey owner;
  (void)seal_data(*e.endpoint, e.report, cfg.data, owner);
  if (cfg.progress) std::fprintf(stderr, "veil: fine-tuning inside the enclave\n");
  auto summary = finetune_in_enclave(*e.endpoint, e.report, owner, request, cfg.out);
  train::FinetuneResult r;
  r.steps = summary.value("steps", std::int64_t{0});
  r.first_loss = summary.value("first_loss", 0.0);
  r.final_loss = summary.value("final_loss", 0.0);
  r.seconds = summary.value("seconds", 0.0);
  r.tokens_per_second = summary.value("tokens_per_second", 0.0);
  if (summary.contains("val_loss_before") && summary.at("val_loss_before").is_number())
    r.val_loss_before = summary.at("val_loss_before").get<double>();
  if (summary.contains("val_loss_after") && summary.at("val_loss_after").is_number())
    r.val_loss_after = summary.at("val_loss_after").get<double>();
  r.summary = std::move(summary);
  return r;
}

}  // namespace veil::designs::obfuscatune
