// The enclave party's Service handlers (enclave_service.h).
#include "veil/designs/obfuscatune/enclave_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>

#include "designs/obfuscatune/bundle.h"
#include "designs/obfuscatune/enclave_protocol.h"
#include "designs/obfuscatune/enclave_runs.h"
#include "designs/obfuscatune/sealed_message.h"
#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/tee/attestation.h"
#include "veil/tee/sealing.h"
#include "veil/tee/signing.h"
#include "veil/train/design.h"
#include "veil/transport/message.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace fs = std::filesystem;
using transport::Message;
using transport::ProtocolError;

namespace {

// A private directory on a RAM file system for the plaintext files run_finetune reads.
fs::path private_dir(const fs::path& root_hint) {
  fs::path root = root_hint;
  if (root.empty()) {
    root = "/dev/shm";
    if (!fs::is_directory(root)) {
      root = fs::temp_directory_path();
      std::fprintf(stderr, "veil enclave: WARNING: /dev/shm is missing; plaintext goes to %s (on disk)\n",
                   root.c_str());
    }
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    fs::path dir = root / ("veil-enclave-" + tee::to_hex(tee::random_bytes(8)));
    if (::mkdir(dir.c_str(), 0700) == 0) return dir;
  }
  throw std::runtime_error("veil enclave: cannot create a private directory under " + root.string());
}

void write_private(const fs::path& path, const std::string& bytes) {
  util::write_file_atomic(path, bytes);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace

struct EnclaveParty::State {
  EnclaveSettings settings;
  std::shared_ptr<tee::Attester> attester;
  tee::SealingKey key;
  std::string measurement, config_json;
  std::string session = tee::random_bytes(16);       // this session's id (one model, one data owner)
  std::string adapter_key = tee::random_bytes(32);   // MACs the adapters this session produces
  std::unique_ptr<tee::VerifyKey> model_owner;       // pinned by the (measured) configuration
  fs::path dir;
  std::mutex mu;
  std::deque<std::string> issued;  // hashes of the reports handed out and not yet used (newest last, bounded)
  std::deque<std::string> used;    // hashes of reports that a request consumed (newest last, bounded)
  struct Stream {
    std::string kind, report_hash;
    std::unique_ptr<tee::Opener> opener;
    std::string plaintext;
  };
  std::map<std::string, Stream> streams;
  fs::path model_dir, model_path, data_path;
  std::string model_hash;                   // raw; empty until the model owner's model is accepted
  std::unique_ptr<tee::VerifyKey> data_owner;  // bound by the data owner's first signed request
  std::string owner_key;                    // the data owner's X25519 reply key (from its sealed data)
  std::atomic<int> counter{0};

  Message report(const Message& q) {
    const auto& nonce = q.blob("nonce");
    if (nonce.size() < 16 || nonce.size() > 64) throw ProtocolError("enclave.report: the nonce must have 16 to 64 bytes");
    std::lock_guard lock(mu);
    auto r = attester->attest({measurement, config_json, key.public_key(), nonce, session, model_hash});
    issued.push_back(r.hash());
    while (issued.size() > 256) issued.pop_front();
    Message m;
    m.blobs["report"] = r.to_json();
    return m;
  }

  // The hash named by meta "report" (hex), which must be a report this session issued and nobody
  // has used yet (callers hold mu).
  std::string issued_report(const Message& q, const std::string& op) {
    if (!q.meta.count("report")) throw ProtocolError(op + ": meta 'report' is missing");
    std::string hash;
    try {
      hash = tee::from_hex(q.meta.at("report"));
    } catch (const std::invalid_argument&) {
      throw ProtocolError(op + ": meta 'report' is not hex");
    }
    if (std::find(used.begin(), used.end(), hash) != used.end())
      throw ProtocolError(op + ": bound to a report a request already used (a replay; each request needs a fresh report)");
    if (std::find(issued.begin(), issued.end(), hash) == issued.end())
      throw ProtocolError(op + ": bound to a report this enclave session did not issue (a request made for another "
                               "session, or an expired report)");
    return hash;
  }
  // Marks a report used: no second request may name it.
  void consume(const std::string& hash) {
    issued.erase(std::remove(issued.begin(), issued.end(), hash), issued.end());
    used.push_back(hash);
    while (used.size() > 4096) used.pop_front();
  }

  std::size_t max_bytes(const std::string& kind) const {
    return kind == "model" ? settings.max_model_bytes : settings.max_data_bytes;
  }

  Message seal(const Message& q, const std::string& kind) {
    const std::string op = q.op;
    if (!q.meta.count("stream")) throw ProtocolError(op + ": meta 'stream' is missing");
    const std::string id = q.meta.at("stream");
    if (q.ints.size() != 2 || q.ints[0] < 0) throw ProtocolError(op + ": expected ints {index, final}");
    const bool final = q.ints[1] != 0;
    std::lock_guard lock(mu);
    if (q.ints[0] == 0) {
      if (kind == "model" && !model_hash.empty())
        throw ProtocolError(op + ": this enclave session already holds a model (" + tee::to_hex(model_hash) +
                            "); one model is sealed per session");
      const std::string hash = issued_report(q, op);
      if (streams.count(id)) throw ProtocolError(op + ": stream id already open");
      if (streams.size() >= 16) throw ProtocolError(op + ": too many open streams");
      streams[id] = Stream{kind, hash, std::make_unique<tee::Opener>(key, q.blob("header"), hash), {}};
    }
    auto it = streams.find(id);
    if (it == streams.end()) throw ProtocolError(op + ": unknown stream (its chunk 0 never arrived)");
    auto& s = it->second;
    if (s.kind != kind || static_cast<std::uint64_t>(q.ints[0]) != s.opener->chunks()) {
      streams.erase(it);
      throw ProtocolError(op + ": chunk out of order; the stream is dropped");
    }
    try {
      s.plaintext += s.opener->open(q.blob("chunk"), final);
    } catch (const tee::SealError& e) {
      streams.erase(it);
      throw;
    }
    if (s.opener->chunks() == 1) consume(s.report_hash);  // chunk 0 authenticated: the report is spent
    if (s.plaintext.size() > max_bytes(kind)) {
      streams.erase(it);
      throw ProtocolError(util::cat(op, ": the sealed ", kind, " exceeds ", max_bytes(kind), " bytes; the stream is dropped"));
    }
    if (!final) return {};
    Stream done = std::move(s);
    streams.erase(it);
    auto files = unpack_bundle(done.plaintext);
    done.plaintext.clear();
    if (kind == "model") accept_model(std::move(files), done.report_hash);
    else accept_data(files, done.report_hash);
    return {};
  }

  void accept_model(Bundle files, const std::string& report_hash) {
    if (!model_hash.empty())
      throw ProtocolError("enclave.seal_model: this enclave session already holds a model (" + tee::to_hex(model_hash) +
                          "); one model is sealed per session");
    const auto sig = files.find(kModelSignatureFile);
    if (sig == files.end())
      throw ProtocolError(util::cat("enclave.seal_model: the model bundle is unsigned; the model owner signs it with the "
                                    "key this enclave pins (--model-owner-key, fingerprint ",
                                    model_owner->fingerprint(), ")"));
    const std::string signature = sig->second;
    files.erase(sig);
    if (files.empty()) throw ProtocolError("enclave.seal_model: the bundle holds no model file");
    const std::string hash = obfuscatune::model_hash(files);
    if (!model_owner->verify(signed_digest(kSealModelLabel, session, report_hash, {{"model", hash}}), signature))
      throw ProtocolError(util::cat("enclave.seal_model: the model bundle is not signed by the model owner's pinned key "
                                    "(--model-owner-key, fingerprint ",
                                    model_owner->fingerprint(), "); refused"));
    const fs::path target = dir / ("model-" + std::to_string(++counter));
    fs::create_directory(target);
    for (const auto& [name, bytes] : files) write_private(target / name, bytes);
    fs::path path = files.count("config.json") ? target : target / files.begin()->first;
    try {
      (void)model::read_model(path);  // validates before accepting
    } catch (...) {
      fs::remove_all(target);
      throw;
    }
    model_dir = target;
    model_path = path;
    model_hash = hash;
    std::fprintf(stderr, "veil enclave: sealed model received (%zu files, hash %s) for session %s\n", files.size(),
                 tee::to_hex(hash).c_str(), tee::to_hex(session).c_str());
  }

  // Checks the data owner's signature over `files` (but kRequestSignatureFile) with the key in
  // kSessionKeyFile, which must be the session's data owner; the first signed request binds it.
  void authenticate_owner(const Bundle& files, const std::string& label, const std::string& report_hash,
                          const std::string& op) {
    if (!files.count(kSessionKeyFile) || !files.count(kRequestSignatureFile))
      throw ProtocolError(op + ": the request is not signed with a data owner's session key");
    auto signer = std::make_unique<tee::VerifyKey>(tee::VerifyKey::from_der(files.at(kSessionKeyFile)));
    if (data_owner && !equal_bytes(data_owner->der(), signer->der()))
      throw ProtocolError(util::cat(op, ": signed by key ", signer->fingerprint().substr(0, 16),
                                    "..., which is not this session's data owner (", data_owner->fingerprint().substr(0, 16),
                                    "...); refused"));
    if (!signer->verify(signed_digest(label, session, report_hash, files, kRequestSignatureFile),
                        files.at(kRequestSignatureFile)))
      throw ProtocolError(op + ": the data owner's signature does not verify (altered, or made for another session or report)");
    if (!data_owner) {
      data_owner = std::move(signer);
      std::fprintf(stderr, "veil enclave: session %s bound to data owner key %s\n", tee::to_hex(session).c_str(),
                   data_owner->fingerprint().c_str());
    }
  }

  void accept_data(const Bundle& files, const std::string& report_hash) {
    if (!files.count("owner.pub") || files.at("owner.pub").size() != 32)
      throw ProtocolError("enclave.seal_data: the bundle lacks the data owner's 32-byte key 'owner.pub'");
    std::string data_name;
    for (const auto& [name, bytes] : files)
      if (name.rfind("data.", 0) == 0) data_name = name;
    if (data_name.empty()) throw ProtocolError("enclave.seal_data: the bundle lacks a 'data.<ext>' file");
    authenticate_owner(files, kSealDataLabel, report_hash, "enclave.seal_data");
    const fs::path path = dir / ("data-" + std::to_string(++counter) + fs::path(data_name).extension().string());
    write_private(path, files.at(data_name));
    if (!data_path.empty()) fs::remove(data_path);
    data_path = path;
    owner_key = files.at("owner.pub");
    std::fprintf(stderr, "veil enclave: sealed dataset received (%zu bytes)\n", files.at(data_name).size());
  }

  // The workers of one run: the test hook, or settings.parties (none: one in-process worker).
  PoolOpener pool_opener() const {
    if (settings.open_pool) return settings.open_pool;
    return [p = settings.parties](const model::ModelConfig& c) {
      WorkerContext ctx;
      return open_workers("obfuscatune", p, ctx, static_cast<int>(c.num_layers));
    };
  }

  Message generate(const Message& q) {
    std::unique_lock lock(mu);
    const std::string aad = issued_report(q, "enclave.generate");
    const auto sealed = sealed_from(q, "enclave.generate");
    std::size_t bytes = sealed.header.size();
    for (const auto& c : sealed.chunks) bytes += c.size();
    if (bytes > settings.max_data_bytes) throw ProtocolError("enclave.generate: the sealed request is too large");
    auto files = unpack_bundle(tee::open(key, aad, sealed));
    if (!files.count("request.json") || !files.count("owner.pub") || files.at("owner.pub").size() != 32)
      throw ProtocolError("enclave.generate: the bundle lacks request.json or the 32-byte reply key owner.pub");
    if (model_path.empty()) throw ProtocolError("enclave.generate: no model was sealed to this enclave yet");
    authenticate_owner(files, kGenerateLabel, aad, "enclave.generate");
    consume(aad);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(files.at("request.json"));
    } catch (const nlohmann::json::exception&) {
      throw ProtocolError("enclave.generate: request.json is not JSON");
    }
    const auto req = EnclaveGenerate::from_json(j);
    if (!fs::is_directory(model_path))
      throw ProtocolError("enclave.generate: the sealed model is a single file, without a tokenizer");
    auto tok = tokenizer::load_tokenizer(model_path);
    auto model_files = model::read_model(model_path);
    const auto cfg = model_files.config;
    std::shared_ptr<model::LoraAdapters> lora;
    if (files.count("adapter_config.json") || files.count("adapter_model.safetensors") || files.count(kAdapterTagFile)) {
      for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
        if (!files.count(name)) throw ProtocolError(std::string("enclave.generate: the adapter lacks ") + name);
      if (!files.count(kAdapterTagFile) ||
          !equal_bytes(files.at(kAdapterTagFile), adapter_tag(adapter_key, session, model_hash, files.at("adapter_config.json"),
                                                              files.at("adapter_model.safetensors"))))
        throw ProtocolError(
            "enclave.generate: the adapter was not produced by this enclave session (its adapter.tag is missing or "
            "does not verify); only adapters the session's fine-tunes returned are loaded");
      const fs::path adir = dir / ("adapter-" + std::to_string(++counter));
      fs::create_directory(adir);
      struct Remove {
        fs::path p;
        ~Remove() {
          std::error_code ec;
          fs::remove_all(p, ec);
        }
      } remove{adir};
      for (const char* name : {"adapter_config.json", "adapter_model.safetensors"}) write_private(adir / name, files.at(name));
      lora = lora::load_peft_adapter(adir, cfg);
    }
    ObfuscatuneEnclave enclave(std::move(model_files), ObfuscatuneOptions::parse(settings.options),
                               pool_opener()(cfg), lora);
    std::vector<std::int64_t> prompt;
    for (auto id : tok->encode(req.prompt, true)) prompt.push_back(id);
    if (prompt.empty()) {
      const auto bos = tok->bos_id();
      if (!bos) throw ProtocolError("enclave.generate: empty prompt and the tokenizer has no BOS token");
      prompt.push_back(*bos);
    }
    auto gen = req.gen;
    if (req.eos_stop && gen.stop_tokens.empty()) {
      if (auto eos = tok->eos_id()) gen.stop_tokens.push_back(*eos);
      for (auto e : cfg.eos_token_ids) gen.stop_tokens.push_back(e);
    }
    const auto tokens = enclave.generate(prompt, gen);
    tokenizer::StreamDecoder stream(*tok);
    std::string text;
    for (auto id : tokens) text += stream.push(static_cast<tokenizer::TokenId>(id));
    text += stream.flush();
    Bundle result{{"result.json", nlohmann::json{{"tokens", tokens}, {"text", text}}.dump()}};
    Message m;
    put_sealed(m, tee::seal(files.at("owner.pub"), aad, pack_bundle(result)));
    return m;
  }

  Message finetune(const Message& q) {
    if (!q.meta.count("config")) throw ProtocolError("enclave.finetune: meta 'config' is missing");
    const std::string& config = q.meta.at("config");
    if (config.size() > 65536) throw ProtocolError("enclave.finetune: meta 'config' is larger than 64 KiB");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(config);
    } catch (const nlohmann::json::exception&) {
      throw ProtocolError("enclave.finetune: meta 'config' is not JSON");
    }
    const auto req = EnclaveFinetune::from_json(j);
    std::unique_lock lock(mu);
    if (model_path.empty()) throw ProtocolError("enclave.finetune: no model was sealed to this enclave yet");
    if (data_path.empty() || !data_owner) throw ProtocolError("enclave.finetune: no dataset was sealed to this enclave yet");
    const std::string aad = issued_report(q, "enclave.finetune");
    if (!data_owner->verify(signed_digest(kFinetuneLabel, session, aad, {{"config.json", config}}), q.blob("signature")))
      throw ProtocolError("enclave.finetune: the request is not signed by this session's data owner; refused");
    consume(aad);
    train::FinetuneConfig cfg;
    cfg.model = model_path;
    cfg.data = data_path;
    cfg.out = dir / ("run-" + std::to_string(++counter));
    cfg.design = "obfuscatune";
    cfg.design_options = settings.options;
    req.apply_to(cfg);
    cfg.progress = false;
    const std::string owner = owner_key;
    const std::string run_id = add_enclave_run(pool_opener());
    cfg.design_options[kEnclaveRunKey] = run_id;
    struct Cleanup {
      std::string id;
      fs::path out;
      ~Cleanup() {
        remove_enclave_run(id);
        std::error_code ec;
        fs::remove_all(out, ec);
      }
    } cleanup{run_id, cfg.out};
    auto result = train::run_finetune(cfg);
    Bundle adapter;
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
      adapter[name] = util::read_file(cfg.out / name);
    adapter[kAdapterTagFile] = adapter_tag(adapter_key, session, model_hash, adapter.at("adapter_config.json"),
                                           adapter.at("adapter_model.safetensors"));
    for (const char* name : {"metrics.jsonl", "loss.svg"})  // losses only: the data owner's to see
      if (fs::is_regular_file(cfg.out / name)) adapter[name] = util::read_file(cfg.out / name);
    nlohmann::json summary = {{"steps", result.steps},         {"first_loss", result.first_loss},
                              {"final_loss", result.final_loss}, {"seconds", result.seconds},
                              {"tokens_per_second", result.tokens_per_second},
                              {"design_report", result.summary.value("design_report", nlohmann::json::object())}};
    if (result.val_loss_before) summary["val_loss_before"] = *result.val_loss_before;
    if (result.val_loss_after) summary["val_loss_after"] = *result.val_loss_after;
    adapter["summary.json"] = summary.dump(2);
    Message m;
    put_sealed(m, tee::seal(owner, aad, pack_bundle(adapter)));
    return m;
  }
};

nlohmann::json EnclaveSettings::measured_config() const {
  nlohmann::json opts = nlohmann::json::object();
  for (const auto& [k, v] : options) opts[k] = v;
  std::string owner = "(none)";
  if (!model_owner_key.empty()) owner = tee::VerifyKey::from_der(model_owner_key).fingerprint();
  return {{"design", "obfuscatune"},
          {"options", opts},
          {"attestation", "simulated"},
          {"protocol", 2},
          {"model_owner_key_sha256", owner},
          {"max_model_bytes", max_model_bytes},
          {"max_data_bytes", max_data_bytes}};
}

EnclaveParty::EnclaveParty(EnclaveSettings settings, std::shared_ptr<tee::Attester> attester)
    : state_(std::make_shared<State>()) {
  VEIL_CHECK_ARG(attester != nullptr, "enclave: an attester is required");
  VEIL_CHECK_ARG(!settings.options.count(kEnclaveRunKey), "--opt ", kEnclaveRunKey, " is reserved");
  (void)ObfuscatuneOptions::parse(settings.options);
  VEIL_CHECK_ARG(!settings.model_owner_key.empty(),
                 "enclave: the model owner's public key must be pinned (--model-owner-key FILE): the enclave accepts "
                 "only a model signed by it");
  state_->model_owner = std::make_unique<tee::VerifyKey>(tee::VerifyKey::from_der(settings.model_owner_key));
  register_builtin_designs();
  state_->measurement = tee::measure_self(settings.measured_config());
  state_->config_json = settings.measured_config().dump();
  state_->dir = private_dir(settings.scratch);
  state_->settings = std::move(settings);
  state_->attester = std::move(attester);
}

EnclaveParty::~EnclaveParty() {
  std::error_code ec;
  fs::remove_all(state_->dir, ec);
}

const std::string& EnclaveParty::measurement() const { return state_->measurement; }
const std::string& EnclaveParty::session() const { return state_->session; }

void EnclaveParty::install(transport::Service& service) {
  auto s = state_;
  // Who may call what (docs/tee.md "Who may call the enclave"): the model only from the model
  // owner; data, fine-tuning and generation only from the data owner; reports to either.
  using transport::Role;
  const transport::Roles owners{Role::kModelOwner, Role::kDataOwner}, model_owner{Role::kModelOwner},
      data_owner{Role::kDataOwner};
  service.on("enclave.report", owners, [s](const Message& q) { return s->report(q); });
  service.on("enclave.seal_model", model_owner, [s](const Message& q) { return s->seal(q, "model"); });
  service.on("enclave.seal_data", data_owner, [s](const Message& q) { return s->seal(q, "data"); });
  service.on("enclave.finetune", data_owner, [s](const Message& q) { return s->finetune(q); });
  service.on("enclave.generate", data_owner, [s](const Message& q) { return s->generate(q); });
}

}  // namespace veil::designs::obfuscatune
