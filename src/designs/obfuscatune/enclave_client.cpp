// The model and data owners' side of `veil enclave` (enclave_client.h).
#include "veil/designs/obfuscatune/enclave_client.h"

#include "designs/obfuscatune/bundle.h"
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

std::int64_t positive(const nlohmann::json& j, const char* key, std::int64_t def, bool zero_ok = false) {
  if (!j.contains(key)) return def;
  VEIL_CHECK_ARG(j.at(key).is_number_integer(), "finetune config: '", key, "' must be an integer");
  const auto v = j.at(key).get<std::int64_t>();
  VEIL_CHECK_ARG(zero_ok ? v >= 0 : v >= 1, "finetune config: '", key, "' must be ", zero_ok ? ">= 0" : ">= 1");
  VEIL_CHECK_ARG(v <= (std::int64_t{1} << 40), "finetune config: '", key, "' is too large");
  return v;
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

nlohmann::json EnclaveFinetune::to_json() const {
  return {{"steps", steps},   {"batch_size", batch_size}, {"grad_accum", grad_accum}, {"seq_len", seq_len},
          {"max_examples", max_examples}, {"rank", rank}, {"lr", lr}, {"alpha", alpha}, {"seed", seed}};
}

EnclaveFinetune EnclaveFinetune::from_json(const nlohmann::json& j) {
  VEIL_CHECK_ARG(j.is_object(), "finetune config must be a JSON object");
  EnclaveFinetune r;
  r.steps = positive(j, "steps", r.steps);
  r.batch_size = positive(j, "batch_size", r.batch_size);
  r.grad_accum = positive(j, "grad_accum", r.grad_accum);
  r.seq_len = positive(j, "seq_len", r.seq_len);
  r.max_examples = positive(j, "max_examples", r.max_examples, true);
  r.rank = positive(j, "rank", r.rank);
  r.seed = static_cast<std::uint64_t>(positive(j, "seed", 0, true));
  for (auto [key, field] : {std::pair{"lr", &r.lr}, std::pair{"alpha", &r.alpha}}) {
    if (!j.contains(key)) continue;
    VEIL_CHECK_ARG(j.at(key).is_number() && j.at(key).get<double>() > 0, "finetune config: '", key, "' must be > 0");
    *field = j.at(key).get<double>();
  }
  return r;
}

nlohmann::json finetune_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                   const tee::SealingKey& owner, const EnclaveFinetune& request, const fs::path& out) {
  transport::Message q;
  q.op = "enclave.finetune";
  q.meta["config"] = request.to_json().dump();
  auto reply = enclave.call(std::move(q));
  if (reply.ints.size() != 1 || reply.ints[0] < 1) throw transport::ProtocolError("enclave.finetune: malformed reply");
  tee::SealedStream sealed{reply.blob("header"), {}};
  for (int i = 0; i < reply.ints[0]; ++i) sealed.chunks.push_back(reply.blob("chunk." + std::to_string(i)));
  auto files = unpack_bundle(tee::open(owner, report.hash(), sealed));
  for (const char* name : {"adapter_config.json", "adapter_model.safetensors", "summary.json"})
    VEIL_CHECK_ARG(files.count(name), "enclave.finetune: the sealed reply lacks ", name);
  fs::create_directories(out);
  for (const auto& [name, bytes] : files) util::write_file_atomic(out / name, bytes);
  return nlohmann::json::parse(files.at("summary.json"));
}

}  // namespace veil::designs::obfuscatune
