// The enclave party's Service handlers (enclave_service.h).
#include "veil/designs/obfuscatune/enclave_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>

#include "designs/obfuscatune/bundle.h"
#include "veil/designs/obfuscatune/enclave.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/designs/registry.h"
#include "veil/model/loader.h"
#include "veil/tee/attestation.h"
#include "veil/tee/sealing.h"
#include "veil/train/design.h"
#include "veil/transport/message.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace fs = std::filesystem;
using transport::Message;
using transport::ProtocolError;

namespace {

// run_finetune opens designs by name; the enclave's runs use this internal design, whose factory
// takes the worker pool the enclave party prepared for the run (keyed by a run id option).
constexpr const char* kRunDesign = "obfuscatune-enclave";
constexpr const char* kRunKey = "enclave_run";

std::mutex& runs_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::function<transport::WorkerPool(const model::ModelConfig&)>>& runs() {
  static std::map<std::string, std::function<transport::WorkerPool(const model::ModelConfig&)>> r;
  return r;
}

class EnclaveRunSession final : public train::DesignSession {
 public:
  explicit EnclaveRunSession(const train::FinetuneConfig& cfg) {
    auto options = cfg.design_options;
    const auto it = options.find(kRunKey);
    VEIL_CHECK_ARG(it != options.end(), "design ", kRunDesign, " runs only inside `veil enclave`");
    std::function<transport::WorkerPool(const model::ModelConfig&)> open_pool;
    {
      std::lock_guard lock(runs_mu());
      open_pool = runs().at(it->second);
    }
    options.erase(kRunKey);
    auto opts = ObfuscatuneOptions::parse(options);
    auto files = model::read_model(cfg.model);
    auto pool = open_pool(files.config);
    auto lora = std::make_shared<model::LoraAdapters>(files.config, cfg.lora, cfg.seed);
    enclave_ = std::make_unique<ObfuscatuneEnclave>(std::move(files), opts, std::move(pool), lora);
  }
  model::CausalLM& model() override { return enclave_->model(); }
  std::shared_ptr<model::LoraAdapters> adapters() override { return enclave_->adapters(); }
  nlohmann::json report() const override { return enclave_->report(); }

 private:
  std::unique_ptr<ObfuscatuneEnclave> enclave_;
};

void register_run_design() {
  static std::once_flag once;
  std::call_once(once, [] {
    train::register_design(kRunDesign, "internal: the fine-tune `veil enclave` runs on sealed inputs",
                           [](const train::FinetuneConfig& cfg) { return std::make_unique<EnclaveRunSession>(cfg); });
  });
}

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
  fs::path dir;
  std::mutex mu;
  std::deque<std::string> issued;  // hashes of the reports handed out (newest last, bounded)
  struct Stream {
    std::string kind, report_hash;
    std::unique_ptr<tee::Opener> opener;
    std::string plaintext;
  };
  std::map<std::string, Stream> streams;
  fs::path model_dir, model_path, data_path;
  std::string owner_key, data_report_hash;
  std::atomic<int> counter{0};

  Message report(const Message& q) {
    const auto& nonce = q.blob("nonce");
    if (nonce.size() < 16 || nonce.size() > 64) throw ProtocolError("enclave.report: the nonce must have 16 to 64 bytes");
    auto r = attester->attest(measurement, config_json, key.public_key(), nonce);
    std::lock_guard lock(mu);
    issued.push_back(r.hash());
    while (issued.size() > 256) issued.pop_front();
    Message m;
    m.blobs["report"] = r.to_json();
    return m;
  }

  Message seal(const Message& q, const std::string& kind) {
    const std::string op = q.op;
    auto meta = [&](const char* k) -> const std::string& {
      if (!q.meta.count(k)) throw ProtocolError(op + ": meta '" + k + "' is missing");
      return q.meta.at(k);
    };
    const std::string id = meta("stream");
    if (q.ints.size() != 2) throw ProtocolError(op + ": expected ints {index, final}");
    const bool final = q.ints[1] != 0;
    std::lock_guard lock(mu);
    if (q.ints[0] == 0) {
      std::string hash;
      try {
        hash = tee::from_hex(meta("report"));
      } catch (const std::invalid_argument&) {
        throw ProtocolError(op + ": meta 'report' is not hex");
      }
      if (std::find(issued.begin(), issued.end(), hash) == issued.end())
        throw ProtocolError(op + ": sealed for a report this enclave did not issue (or an expired one)");
      if (streams.size() >= 16) throw ProtocolError(op + ": too many open streams");
      Stream s{kind, hash, std::make_unique<tee::Opener>(key, q.blob("header"), hash), {}};
      streams[id] = std::move(s);
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
    if (!final) return {};
    Stream done = std::move(s);
    streams.erase(it);
    auto files = unpack_bundle(done.plaintext);
    if (kind == "model") accept_model(files);
    else accept_data(files, done.report_hash);
    return {};
  }

  void accept_model(const Bundle& files) {
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
    if (!model_dir.empty()) fs::remove_all(model_dir);
    model_dir = target;
    model_path = path;
    std::fprintf(stderr, "veil enclave: sealed model received (%zu files)\n", files.size());
  }

  void accept_data(const Bundle& files, const std::string& report_hash) {
    if (!files.count("owner.pub") || files.at("owner.pub").size() != 32)
      throw ProtocolError("enclave.seal_data: the bundle lacks the data owner's 32-byte key 'owner.pub'");
    std::string data_name;
    for (const auto& [name, bytes] : files)
      if (name.rfind("data.", 0) == 0) data_name = name;
    if (data_name.empty()) throw ProtocolError("enclave.seal_data: the bundle lacks a 'data.<ext>' file");
    const fs::path path = dir / ("data-" + std::to_string(++counter) + fs::path(data_name).extension().string());
    write_private(path, files.at(data_name));
    if (!data_path.empty()) fs::remove(data_path);
    data_path = path;
    owner_key = files.at("owner.pub");
    data_report_hash = report_hash;
    std::fprintf(stderr, "veil enclave: sealed dataset received (%zu bytes)\n", files.at(data_name).size());
  }

  Message finetune(const Message& q) {
    if (!q.meta.count("config")) throw ProtocolError("enclave.finetune: meta 'config' is missing");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(q.meta.at("config"));
    } catch (const nlohmann::json::exception&) {
      throw ProtocolError("enclave.finetune: meta 'config' is not JSON");
    }
    const auto req = EnclaveFinetune::from_json(j);
    std::unique_lock lock(mu);
    if (model_path.empty()) throw ProtocolError("enclave.finetune: no model was sealed to this enclave yet");
    if (data_path.empty()) throw ProtocolError("enclave.finetune: no dataset was sealed to this enclave yet");
    train::FinetuneConfig cfg;
    cfg.model = model_path;
    cfg.data = data_path;
    cfg.out = dir / ("run-" + std::to_string(++counter));
    cfg.design = kRunDesign;
    cfg.design_options = settings.options;
    const std::string run_id = tee::to_hex(tee::random_bytes(8));
    cfg.design_options[kRunKey] = run_id;
    cfg.max_steps = req.steps;
    cfg.batch_size = req.batch_size;
    cfg.grad_accum = req.grad_accum;
    cfg.seq_len = req.seq_len;
    cfg.max_examples = req.max_examples;
    cfg.optim.lr = req.lr;
    cfg.lora.r = req.rank;
    cfg.lora.alpha = req.alpha;
    cfg.seed = req.seed;
    cfg.val_fraction = 0;
    cfg.progress = false;
    const std::string owner = owner_key, aad = data_report_hash;
    {
      std::lock_guard rl(runs_mu());
      std::function<transport::WorkerPool(const model::ModelConfig&)> open = settings.open_pool;
      if (!open)
        open = [p = settings.parties](const model::ModelConfig& c) {
          WorkerContext ctx;
          return open_workers("obfuscatune", p, ctx, static_cast<int>(c.num_layers));
        };
      runs()[run_id] = std::move(open);
    }
    struct Cleanup {
      std::string id;
      fs::path out;
      ~Cleanup() {
        std::lock_guard rl(runs_mu());
        runs().erase(id);
        std::error_code ec;
        fs::remove_all(out, ec);
      }
    } cleanup{run_id, cfg.out};
    auto result = train::run_finetune(cfg);
    Bundle adapter;
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
      adapter[name] = util::read_file(cfg.out / name);
    nlohmann::json summary = {{"steps", result.steps},         {"first_loss", result.first_loss},
                              {"final_loss", result.final_loss}, {"seconds", result.seconds},
                              {"tokens_per_second", result.tokens_per_second},
                              {"design_report", result.summary.value("design_report", nlohmann::json::object())}};
    adapter["summary.json"] = summary.dump(2);
    auto sealed = tee::seal(owner, aad, pack_bundle(adapter));
    Message m;
    m.blobs["header"] = sealed.header;
    for (std::size_t i = 0; i < sealed.chunks.size(); ++i) m.blobs["chunk." + std::to_string(i)] = sealed.chunks[i];
    m.ints = {static_cast<std::int32_t>(sealed.chunks.size())};
    return m;
  }
};

nlohmann::json EnclaveSettings::measured_config() const {
  nlohmann::json opts = nlohmann::json::object();
  for (const auto& [k, v] : options) opts[k] = v;
  return {{"design", "obfuscatune"}, {"options", opts}, {"attestation", "simulated"}, {"protocol", 1}};
}

EnclaveParty::EnclaveParty(EnclaveSettings settings, std::shared_ptr<tee::Attester> attester)
    : state_(std::make_shared<State>()) {
  VEIL_CHECK_ARG(attester != nullptr, "enclave: an attester is required");
  VEIL_CHECK_ARG(!settings.options.count(kRunKey), "--opt ", kRunKey, " is reserved");
  (void)ObfuscatuneOptions::parse(settings.options);
  register_builtin_designs();
  register_run_design();
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

void EnclaveParty::install(transport::Service& service) {
  auto s = state_;
  service.on("enclave.report", [s](const Message& q) { return s->report(q); });
  service.on("enclave.seal_model", [s](const Message& q) { return s->seal(q, "model"); });
  service.on("enclave.seal_data", [s](const Message& q) { return s->seal(q, "data"); });
  service.on("enclave.finetune", [s](const Message& q) { return s->finetune(q); });
}

}  // namespace veil::designs::obfuscatune
