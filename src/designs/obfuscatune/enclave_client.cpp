// The model and data owners' side of `veil enclave` (enclave_client.h).
#include "veil/designs/obfuscatune/enclave_client.h"

#include <cstdio>

#include "designs/obfuscatune/bundle.h"
#include "designs/obfuscatune/enclave_protocol.h"
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

}  // namespace

tee::AttestationReport attest_enclave(transport::Endpoint& enclave, const AttestationPolicy& policy) {
  VEIL_CHECK_ARG(policy.measurement.size() == 64, "expected measurement must be 64 hex characters (SHA-256)");
  const std::string nonce = tee::random_bytes(32);
  transport::Message q;
  q.op = "enclave.report";
  q.blobs["nonce"] = nonce;
  auto reply = enclave.call(std::move(q));
  auto report = tee::AttestationReport::from_json(reply.blob("report"));
  tee::Expectation e;
  e.measurement = policy.measurement;
  e.nonce = nonce;
  e.allow_simulated = policy.allow_simulated;
  e.signer_key = policy.attestation_key;
  e.model_hash = policy.model_hash;
  e.session = policy.session;
  tee::verifier_for(report)->verify(report, e);
  return report;
}

SealedModel seal_model(transport::Endpoint& enclave, const tee::AttestationReport& report, const fs::path& model,
                       const tee::SigningKey& owner_key, std::size_t chunk_bytes) {
  Bundle files = read_bundle(model);
  VEIL_CHECK_ARG(!files.count(kModelSignatureFile), "--model ", model.string(), ": holds a file named ",
                 kModelSignatureFile, ", the name the model owner's signature travels under");
  SealedModel r;
  r.model_hash = model_hash(files);
  files[kModelSignatureFile] =
      owner_key.sign(signed_digest(kSealModelLabel, report.session, report.hash(), {{"model", r.model_hash}}));
  r.bytes = send_sealed(enclave, "enclave.seal_model", report, pack_bundle(files), chunk_bytes);
  return r;
}

std::size_t seal_data(transport::Endpoint& enclave, const tee::AttestationReport& report, const fs::path& data,
                      const tee::SealingKey& owner, const tee::SigningKey& session_key, std::size_t chunk_bytes) {
  VEIL_CHECK_ARG(fs::is_regular_file(data), "--data ", data.string(), ": not a file");
  const std::string ext = data.extension().string();
  Bundle b{{"data" + (ext.empty() ? std::string(".txt") : ext), util::read_file(data)},
           {"owner.pub", owner.public_key()},
           {kSessionKeyFile, session_key.public_key()}};
  b[kRequestSignatureFile] = session_key.sign(signed_digest(kSealDataLabel, report.session, report.hash(), b));
  return send_sealed(enclave, "enclave.seal_data", report, pack_bundle(b), chunk_bytes);
}

nlohmann::json finetune_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                   const tee::SealingKey& owner, const tee::SigningKey& session_key,
                                   const EnclaveFinetune& request, const fs::path& out) {
  const std::string config = request.to_json().dump(), aad = report.hash();
  transport::Message q;
  q.op = "enclave.finetune";
  q.meta["config"] = config;
  q.meta["report"] = tee::to_hex(aad);
  q.blobs["signature"] = session_key.sign(signed_digest(kFinetuneLabel, report.session, aad, {{"config.json", config}}));
  auto reply = enclave.call(std::move(q));
  auto files = unpack_bundle(tee::open(owner, aad, sealed_from(reply, "enclave.finetune")));
  for (const char* name : {"adapter_config.json", "adapter_model.safetensors", kAdapterTagFile, "summary.json"})
    VEIL_CHECK_ARG(files.count(name), "enclave.finetune: the sealed reply lacks ", name);
  fs::create_directories(out);
  for (const auto& [name, bytes] : files) util::write_file_atomic(out / name, bytes);
  return nlohmann::json::parse(files.at("summary.json"));
}

EnclaveGeneration generate_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                      const tee::SigningKey& session_key, const EnclaveGenerate& request,
                                      const fs::path& adapter) {
  tee::SealingKey reply_key;  // this call's: the reply opens nowhere else
  Bundle b{{"request.json", request.to_json().dump()},
           {"owner.pub", reply_key.public_key()},
           {kSessionKeyFile, session_key.public_key()}};
  if (!adapter.empty()) {
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors", kAdapterTagFile}) {
      VEIL_CHECK_ARG(fs::is_regular_file(adapter / name), "--adapter ", adapter.string(), ": ", name, " is missing",
                     std::string(name) == kAdapterTagFile
                         ? " (the enclave loads only adapters it produced in this session, which carry its tag)"
                         : "");
      b[name] = util::read_file(adapter / name);
    }
  }
  const std::string aad = report.hash();
  b[kRequestSignatureFile] = session_key.sign(signed_digest(kGenerateLabel, report.session, aad, b));
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

tee::AttestationReport AttestedEnclave::attest_again() const { return attest_enclave(*endpoint, policy); }

AttestedEnclave connect_attested(const train::PartyOptions& parties,
                                 const std::map<std::string, std::string>& design_options) {
  VEIL_CHECK_ARG(!parties.enclave.empty(), "--enclave HOST:PORT is required");
  const auto m = design_options.find("measurement");
  VEIL_CHECK_ARG(m != design_options.end(),
                 "--enclave needs --opt measurement=HEX: the measurement the enclave must report (`veil enclave "
                 "--print-measurement` with the enclave's options)");
  VEIL_CHECK_ARG(m->second.size() == 64 && m->second.find_first_not_of("0123456789abcdef") == std::string::npos,
                 "--opt measurement: expected 64 lower-case hex characters (SHA-256), got '", m->second, "'");
  AttestedEnclave e;
  e.policy.measurement = m->second;
  auto expected = design_options;  // what is left: obfuscatune options the enclave must run with
  for (const char* key : {"measurement", "allow-simulated", "attestation-key", "model-hash", "session-key"}) expected.erase(key);
  if (auto it = design_options.find("allow-simulated"); it != design_options.end()) {
    VEIL_CHECK_ARG(it->second == "1" || it->second == "true" || it->second == "0" || it->second == "false",
                   "--opt allow-simulated: expected 1 or 0, got '", it->second, "'");
    e.policy.allow_simulated = it->second == "1" || it->second == "true";
  }
  if (auto it = design_options.find("attestation-key"); it != design_options.end())
    e.policy.attestation_key = tee::read_attestation_key(it->second);
  if (auto it = design_options.find("model-hash"); it != design_options.end()) {
    VEIL_CHECK_ARG(it->second.size() == 64 && it->second.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos,
                   "--opt model-hash: expected 64 hex characters (what `veil provider seal` printed), got '", it->second, "'");
    e.policy.model_hash = tee::from_hex(it->second);
  }
  (void)ObfuscatuneOptions::parse(expected);  // unknown keys and bad values fail before connecting
  if (auto it = design_options.find("session-key"); it != design_options.end())
    e.session_key = std::make_shared<tee::SigningKey>(tee::SigningKey::load_or_create(it->second));
  else
    e.session_key = std::make_shared<tee::SigningKey>(tee::SigningKey::generate());
  transport::ConnectOptions o;
  o.tls = {parties.tls_cert, parties.tls_key, parties.tls_ca, parties.insecure};
  o.tls_server_name = parties.tls_server_name;
  e.endpoint = transport::connect(parties.enclave, o);
  e.report = attest_enclave(*e.endpoint, e.policy);
  if (e.report.model_hash.empty())
    throw tee::AttestationError(util::cat("the enclave at ", parties.enclave, " (session ", tee::to_hex(e.report.session),
                                          ") holds no model yet: its owner seals one first (`veil provider seal`); "
                                          "nothing was sent"));
  std::fprintf(stderr, "veil: enclave session %s holds model %s%s\n", tee::to_hex(e.report.session).c_str(),
               tee::to_hex(e.report.model_hash).c_str(),
               e.policy.model_hash.empty() ? " (not checked: pass --opt model-hash=HEX to insist on one)" : " (as expected)");
  // Later reports of this connection must name the same session and model.
  e.policy.session = e.report.session;
  e.policy.model_hash = e.report.model_hash;
  // The measurement already covers the options; this turns a mismatch into a readable refusal.
  nlohmann::json measured;
  try {
    measured = nlohmann::json::parse(e.report.config_json).at("options");
  } catch (const nlohmann::json::exception&) {
    throw tee::AttestationError("the enclave's report carries no readable configuration");
  }
  for (const auto& [key, value] : expected) {
    const std::string theirs = measured.contains(key) && measured.at(key).is_string() ? measured.at(key).get<std::string>() : "(default)";
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
  (void)seal_data(*e.endpoint, e.report, cfg.data, owner, *e.session_key);
  if (cfg.progress) std::fprintf(stderr, "veil: fine-tuning inside the enclave\n");
  auto summary = finetune_in_enclave(*e.endpoint, e.attest_again(), owner, *e.session_key, request, cfg.out);
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
