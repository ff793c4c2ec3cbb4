// The enclave's bound session (docs/tee.md, "Sessions"), each test playing a dishonest peer that
// the TLS layer admitted: a second model sealed into a running session, a model signed by another
// key (the worker's) or unsigned, a data owner of one session acting in another, sealed and signed
// messages replayed (into the same session or another), adapters the enclave did not produce, and
// counts beyond the enclave's bounds. Every refusal names its reason.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "designs/obfuscatune/bundle.h"
#include "designs/obfuscatune/enclave_protocol.h"
#include "support/shared_assets.h"
#include "tee/enclave_deployment.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;
using testing::Deployment;
using testing::kModel;

void expect_refused(const std::function<void()>& run, const std::string& why) {
  try {
    run();
    ADD_FAILURE() << "accepted; expected a refusal naming '" << why << "'";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
}

// Sends `payload` as one sealed chunk under `report` (what a modified client can send).
void send_raw(transport::Endpoint& enclave, const std::string& op, const tee::AttestationReport& report,
              const std::string& payload) {
  tee::Sealer sealer(report.enclave_key, report.hash());
  transport::Message q;
  q.op = op;
  q.meta = {{"stream", tee::to_hex(tee::random_bytes(16))}, {"report", tee::to_hex(report.hash())}};
  q.ints = {0, 1};
  q.blobs["header"] = sealer.header();
  q.blobs["chunk"] = sealer.seal(payload, true);
  (void)enclave.call(std::move(q));
}

EnclaveGenerate short_request() {
  EnclaveGenerate r;
  r.prompt = "It is a truth";
  r.gen.max_new_tokens = 2;
  return r;
}

fs::path small_dataset(const fs::path& dir) {
  const fs::path data = dir / "records.jsonl";
  std::ifstream in(fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl");
  std::ofstream out(data);
  std::string line;
  for (int i = 0; i < 16 && std::getline(in, line); ++i) out << line << "\n";
  return data;
}

TEST(EnclaveSession, SecondModelSealRefused) {
  Deployment d;
  const auto first = d.seal_genuine_model();
  // Even the genuine owner, with a fresh report and a valid signature, cannot replace the model.
  expect_refused([&] { (void)d.seal_genuine_model(); }, "already holds a model");
  EXPECT_EQ(d.attest().model_hash, first.model_hash);
}

TEST(EnclaveSession, ModelNotSignedByThePinnedKeyRefused) {
  Deployment d;
  const auto worker_key = tee::SigningKey::generate();  // anybody else's key, e.g. the worker's
  expect_refused([&] { (void)seal_model(*d.owner, d.attest(), kModel, worker_key); },
                 "not signed by the model owner's pinned key");
  // Unsigned: the bundle alone, sealed under a genuine report.
  expect_refused([&] { send_raw(*d.owner, "enclave.seal_model", d.attest(), pack_bundle(read_bundle(kModel))); },
                 "unsigned");
  // A genuine signature made for another report (or session) does not verify for this one.
  auto files = read_bundle(kModel);
  const auto other = d.attest();
  files[kModelSignatureFile] =
      d.model_owner.sign(signed_digest(kSealModelLabel, other.session, other.hash(), {{"model", model_hash(files)}}));
  expect_refused([&] { send_raw(*d.owner, "enclave.seal_model", d.attest(), pack_bundle(files)); },
                 "not signed by the model owner's pinned key");
  // None of it took: the session holds no model, and its owner can still seal.
  EXPECT_TRUE(d.attest().model_hash.empty());
  EXPECT_FALSE(d.seal_genuine_model().model_hash.empty());
}

TEST(EnclaveSession, DataOwnerOfOneSessionCannotActInAnother) {
  Deployment a, b;
  (void)a.seal_genuine_model();
  (void)b.seal_genuine_model();
  const auto owner_a = tee::SigningKey::generate(), owner_b = tee::SigningKey::generate();
  const auto dir = veil::testing::scratch_dir();
  const auto data = small_dataset(dir);
  tee::SealingKey reply_a, reply_b;
  (void)seal_data(*a.enclave, a.attest(), data, reply_a, owner_a);  // binds session a to owner_a
  (void)seal_data(*b.enclave, b.attest(), data, reply_b, owner_b);  // and b to owner_b
  EXPECT_FALSE(generate_in_enclave(*b.enclave, b.attest(), owner_b, short_request()).tokens.empty());
  // owner_a, with fresh reports of session b, is nobody there.
  expect_refused([&] { (void)generate_in_enclave(*b.enclave, b.attest(), owner_a, short_request()); },
                 "not this session's data owner");
  EnclaveFinetune ft;
  ft.steps = 1;
  ft.batch_size = 2;
  ft.seq_len = 16;
  expect_refused([&] { (void)finetune_in_enclave(*b.enclave, b.attest(), reply_a, owner_a, ft, dir / "out"); },
                 "not signed by this session's data owner");
  expect_refused([&] { (void)seal_data(*b.enclave, b.attest(), data, reply_a, owner_a); },
                 "not this session's data owner");
  // Nor can a party that knows no owner key: a finetune request with another key's signature.
  expect_refused([&] { (void)finetune_in_enclave(*a.enclave, a.attest(), reply_b, owner_b, ft, dir / "out"); },
                 "not signed by this session's data owner");
}

TEST(EnclaveSession, ReplayedSealedMessagesRefused) {
  Deployment a, b, fresh;
  (void)a.seal_genuine_model();
  (void)b.seal_genuine_model();
  const auto owner = tee::SigningKey::generate();
  tee::SealingKey reply;
  const auto dir = veil::testing::scratch_dir();
  a.enclave_service->tap()->clear();
  (void)seal_data(*a.enclave, a.attest(), small_dataset(dir), reply, owner);
  (void)generate_in_enclave(*a.enclave, a.attest(), owner, short_request());
  // The transport answers a repeated request id from its reply cache (an idempotent retry: the
  // handler does not run again, and the cached reply opens only with the data owner's key); a replay
  // under a new request id reaches the enclave, which must refuse it.
  auto replay = [](const transport::Message& m) {
    auto r = m;
    r.request_id = tee::to_hex(tee::random_bytes(8));
    return r;
  };
  std::vector<transport::Message> recorded;
  for (const auto& e : a.enclave_service->tap()->entries())
    if (e.direction == transport::Direction::kReceived && e.message.op != "enclave.report")
      recorded.push_back(replay(e.message));
  ASSERT_EQ(recorded.size(), 2u);  // one seal_data chunk, one generate
  for (const auto& m : recorded) {
    expect_refused([&] { (void)a.enclave->call(m); }, "already used");      // a second time
    expect_refused([&] { (void)b.enclave->call(m); }, "did not issue");     // into another session
  }
  // The model owner's sealed model, replayed into a session that holds none yet.
  a.enclave_service->tap()->clear();
  Deployment c;
  (void)c.seal_genuine_model();
  int replayed = 0;
  for (const auto& e : c.enclave_service->tap()->entries())
    if (e.direction == transport::Direction::kReceived && e.message.op == "enclave.seal_model" &&
        e.message.ints.at(0) == 0) {
      expect_refused([&] { (void)fresh.owner->call(replay(e.message)); }, "did not issue");
      ++replayed;
    }
  EXPECT_EQ(replayed, 1);
  EXPECT_TRUE(fresh.attest().model_hash.empty());
}

TEST(EnclaveSession, OnlyAdaptersTheSessionProducedAreLoaded) {
  Deployment d;
  (void)d.seal_genuine_model();
  const auto owner = tee::SigningKey::generate();
  tee::SealingKey reply;
  const auto dir = veil::testing::scratch_dir();
  (void)seal_data(*d.enclave, d.attest(), small_dataset(dir), reply, owner);
  EnclaveFinetune ft;
  ft.steps = 1;
  ft.batch_size = 2;
  ft.seq_len = 16;
  ft.lr = 3e-3;
  const fs::path adapter = dir / "adapter";
  (void)finetune_in_enclave(*d.enclave, d.attest(), reply, owner, ft, adapter);
  ASSERT_TRUE(fs::is_regular_file(adapter / kAdapterTagFile));
  EXPECT_EQ(generate_in_enclave(*d.enclave, d.attest(), owner, short_request(), adapter).tokens.size(), 2u);

  auto variant = [&](const std::string& name, const std::function<void(const fs::path&)>& change) {
    const fs::path v = dir / name;
    fs::create_directories(v);
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors", kAdapterTagFile})
      fs::copy_file(adapter / f, v / f, fs::copy_options::overwrite_existing);
    change(v);
    return v;
  };
  // Weights changed (e.g. crafted to extract the model), the genuine tag kept.
  const auto crafted = variant("crafted", [](const fs::path& v) {
    auto w = util::read_file(v / "adapter_model.safetensors");
    w.back() = static_cast<char>(w.back() ^ 0x40);
    util::write_file_atomic(v / "adapter_model.safetensors", w);
  });
  // A tag the enclave did not make.
  const auto forged = variant("forged", [](const fs::path& v) {
    util::write_file_atomic(v / kAdapterTagFile, tee::random_bytes(32));
  });
  for (const auto& v : {crafted, forged})
    expect_refused([&] { (void)generate_in_enclave(*d.enclave, d.attest(), owner, short_request(), v); },
                   "not produced by this enclave session");
  // No tag at all (a modified client sends the adapter without one).
  expect_refused(
      [&] {
        tee::SealingKey reply_key;
        const auto report = d.attest();
        Bundle b{{"request.json", short_request().to_json().dump()},
                 {"owner.pub", reply_key.public_key()},
                 {kSessionKeyFile, owner.public_key()},
                 {"adapter_config.json", util::read_file(adapter / "adapter_config.json")},
                 {"adapter_model.safetensors", util::read_file(adapter / "adapter_model.safetensors")}};
        b[kRequestSignatureFile] = owner.sign(signed_digest(kGenerateLabel, report.session, report.hash(), b));
        transport::Message q;
        q.op = "enclave.generate";
        q.meta["report"] = tee::to_hex(report.hash());
        const auto sealed = tee::seal(report.enclave_key, report.hash(), pack_bundle(b));
        q.blobs["header"] = sealed.header;
        q.blobs["chunk.0"] = sealed.chunks.at(0);
        q.ints = {1};
        (void)d.enclave->call(q);
      },
      "not produced by this enclave session");
  // The same adapter in another session (another enclave key): refused there.
  Deployment other;
  (void)other.seal_genuine_model();
  expect_refused([&] { (void)generate_in_enclave(*other.enclave, other.attest(), owner, short_request(), adapter); },
                 "not produced by this enclave session");
}

TEST(EnclaveSession, PeerCountsAreBounded) {
  expect_refused([] { (void)EnclaveGenerate::from_json({{"max_new_tokens", std::int64_t{1} << 40}}); }, "max_new_tokens");
  expect_refused([] { (void)EnclaveGenerate::from_json({{"max_new_tokens", 8193}}); }, "max_new_tokens");
  expect_refused([] { (void)EnclaveGenerate::from_json({{"top_k", std::uint64_t{1} << 63}}); }, "top_k");
  expect_refused([] { (void)EnclaveGenerate::from_json({{"prompt", std::string((1 << 20) + 1, 'a')}}); }, "prompt");
  expect_refused([] { (void)EnclaveFinetune::from_json({{"steps", std::int64_t{1} << 40}}); }, "steps");
  expect_refused([] { (void)EnclaveFinetune::from_json({{"batch_size", 100000}}); }, "batch_size");
  expect_refused([] { (void)EnclaveFinetune::from_json({{"batch_size", 1024}, {"seq_len", 65536}}); }, "seq_len");
  expect_refused([] { (void)EnclaveFinetune::from_json({{"epochs", 1000000}}); }, "epochs");
  expect_refused([] { (void)EnclaveFinetune::from_json({{"rank", 1 << 20}}); }, "rank");
  EXPECT_EQ(EnclaveGenerate::from_json({{"max_new_tokens", 8192}}).gen.max_new_tokens, 8192);
  // A sealed dataset beyond the enclave's limit is dropped, not buffered.
  Deployment d(/*max_data_bytes=*/4096);
  (void)d.seal_genuine_model();
  const auto dir = veil::testing::scratch_dir();
  const fs::path big = dir / "big.txt";
  util::write_file_atomic(big, std::string(8192, 'x'));
  tee::SealingKey reply;
  expect_refused([&] { (void)seal_data(*d.enclave, d.attest(), big, reply, tee::SigningKey::generate(), 1024); },
                 "exceeds 4096 bytes");
}

}  // namespace
}  // namespace veil::designs::obfuscatune
