// The model-swap attack of issue 17, as separate `veil` processes over mutual TLS: a worker, the
// enclave, the model owner, the data owner and a FIFTH process holding the worker's key and
// certificate that runs `veil provider seal --model OTHER_MODEL` against the running enclave,
// before and after the model owner. It gets nowhere (the enclave accepts only a model signed by
// the pinned model-owner key, and one model per session); the data owner either fails closed
// before anything is sealed (simulated report not allowed, wrong pinned attestation key, another
// model expected) or generates the genuine model's text.
#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <regex>
#include <thread>

#include "designs/obfuscatune/bundle.h"
#include "designs/obfuscatune/enclave_protocol.h"
#include "support/child_process.h"
#include "support/shared_assets.h"
#include "transport/tls_support.h"
#include "veil/tee/attestation.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using veil::testing::Child;
using veil::testing::veil_binary;

std::unique_ptr<Child> start_listening(std::vector<std::string> args, const fs::path& log, std::string* address) {
  auto child = std::make_unique<Child>(std::move(args), log);
  static const std::regex listening("listening on \\S+:([0-9]+)");
  for (int i = 0; i < 1500; ++i) {
    std::smatch m;
    const auto text = child->out();
    if (std::regex_search(text, m, listening)) {
      *address = "localhost:" + m[1].str();
      return child;
    }
    if (child->wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << log.filename() << " did not start listening:\n" << child->out() << child->err();
  return nullptr;
}

struct Outcome {
  int status = -1;
  std::string out, err;
};
Outcome run_child(std::vector<std::string> args, const fs::path& log) {
  Child c(std::move(args), log);
  const auto status = c.wait(120s);
  EXPECT_TRUE(status) << log.filename() << " did not finish";
  return {status.value_or(-1), c.out(), c.err()};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(ObfuscatuneModelSwap, WorkerKeyHolderCannotSwapTheEnclavesModel) {
  VEIL_REQUIRE_SHARED(shared);
  const std::string bin = veil_binary().string();
  if (std::system((bin + " enclave --help 2>/dev/null | grep -q -- --model-owner-key").c_str()) != 0)
    GTEST_SKIP() << "no veil binary with bound enclave sessions at " << veil_binary();
  auto pki = veil::testing::TestPki::make("veil-obfuscatune-swap");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  const fs::path dir = veil::testing::scratch_dir();
  const fs::path genuine = shared / "models/stories260K-hf";
  const fs::path other = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";  // weights the attacker knows
  const std::vector<std::string> server_tls = {"--tls-cert", pki.server_cert.string(), "--tls-key",
                                               pki.server_key.string(), "--tls-ca", pki.ca.string()};
  const std::vector<std::string> owner_tls = {"--tls-cert", pki.client_cert.string(), "--tls-key",
                                              pki.client_key.string(), "--tls-ca", pki.ca.string()};
  const std::vector<std::string> enclave_tls = {"--tls-cert", pki.enclave_cert.string(), "--tls-key",
                                                pki.enclave_key.string(), "--tls-ca", pki.ca.string()};
  const std::vector<std::string> model_owner_tls = {"--tls-cert", pki.model_owner_cert.string(), "--tls-key",
                                                    pki.model_owner_key.string(), "--tls-ca", pki.ca.string()};
  const std::string att = (dir / "attestation.key").string();
  const std::vector<std::string> simulated = {"--allow-simulated", "--attestation-key", att};
  const std::vector<std::string> pin = {"--model-owner-key", pki.model_owner_cert.string()};

  std::string worker_address, enclave_address;
  auto worker = start_listening(std::vector<std::string>{bin, "worker", "--design", "obfuscatune", "--listen", "127.0.0.1:0"} +
                                    server_tls,
                                dir / "worker", &worker_address);
  ASSERT_TRUE(worker);
  auto m = run_child(std::vector<std::string>{bin, "enclave", "--print-measurement"} + pin, dir / "measure");
  ASSERT_EQ(m.status, 0) << m.err;
  const std::string measurement = m.out.substr(0, 64);
  auto enclave = start_listening(std::vector<std::string>{bin, "enclave", "--listen", "127.0.0.1:0", "--workers",
                                                          worker_address, "--attestation-key-out", att} +
                                     pin + enclave_tls,
                                 dir / "enclave", &enclave_address);
  ASSERT_TRUE(enclave);

  // The fifth process: the worker's certificate and key, a model it knows, every flag it needs. The
  // enclave refuses it by role at its first call; and, should the attacker hold a model-owner
  // certificate too (an insider of the CA), by the pinned signing key.
  const std::vector<std::string> seal_other = {bin, "provider", "seal", "--model", other.string(), "--enclave",
                                               enclave_address, "--expect-measurement", measurement, "--signing-key",
                                               pki.server_key.string()};
  const std::vector<std::string> attack = seal_other + simulated + server_tls;
  const std::vector<std::string> insider = seal_other + simulated + model_owner_tls;
  auto by_role = run_child(attack, dir / "attack-role");
  EXPECT_NE(by_role.status, 0) << by_role.out;
  EXPECT_NE(by_role.err.find("permission denied"), std::string::npos) << by_role.err;
  EXPECT_NE(by_role.err.find("not worker/test"), std::string::npos) << by_role.err;
  auto first = run_child(insider, dir / "attack-first");
  EXPECT_NE(first.status, 0) << first.out;
  EXPECT_NE(first.err.find("not signed by the model owner's pinned key"), std::string::npos) << first.err;

  // The model owner.
  auto sealed = run_child(std::vector<std::string>{bin, "provider", "seal", "--model", genuine.string(), "--enclave",
                                                   enclave_address, "--expect-measurement", measurement, "--signing-key",
                                                   pki.model_owner_key.string()} +
                              simulated + model_owner_tls,
                          dir / "provider");
  ASSERT_EQ(sealed.status, 0) << sealed.err;
  std::smatch hash;
  ASSERT_TRUE(std::regex_search(sealed.out, hash, std::regex("model hash ([0-9a-f]{64})"))) << sealed.out;
  EXPECT_EQ(hash[1].str(), tee::to_hex(model_hash(read_bundle(genuine))));

  // The attacker again, now that the session holds the genuine model.
  auto second = run_child(insider, dir / "attack-second");
  EXPECT_NE(second.status, 0) << second.out;
  EXPECT_NE(second.err.find("already holds a model"), std::string::npos) << second.err;

  // The data owner. Fails closed, before sealing anything, when it does not allow simulated
  // reports, pins another attestation key, or expects another model...
  const std::vector<std::string> gen = {bin, "generate", "--design", "obfuscatune", "--enclave", enclave_address,
                                        "--opt", "measurement=" + measurement, "--prompt", "Once upon a time",
                                        "-n", "12", "--ignore-eos", "--session-key", (dir / "owner.key").string()};
  auto strict = run_child(gen + owner_tls, dir / "owner-strict");
  EXPECT_NE(strict.status, 0);
  EXPECT_NE(strict.err.find("simulated reports are refused"), std::string::npos) << strict.err;
  auto wrong_key = run_child(gen + std::vector<std::string>{"--allow-simulated", "--attestation-key",
                                                            tee::to_hex(tee::random_bytes(32))} + owner_tls,
                             dir / "owner-wrong-key");
  EXPECT_NE(wrong_key.status, 0);
  EXPECT_NE(wrong_key.err.find("not the pinned attestation key"), std::string::npos) << wrong_key.err;
  auto wrong_model = run_child(gen + simulated + std::vector<std::string>{"--opt", "model-hash=" + tee::to_hex(model_hash(read_bundle(other)))} +
                                   owner_tls,
                               dir / "owner-wrong-model");
  EXPECT_NE(wrong_model.status, 0);
  EXPECT_NE(wrong_model.err.find("model mismatch"), std::string::npos) << wrong_model.err;
  EXPECT_EQ(enclave->err().find("bound to data owner"), std::string::npos) << "a refused data owner reached the session";

  // ...and otherwise generates the genuine model's text, with the loud simulated-attestation warning.
  auto good = run_child(gen + simulated + std::vector<std::string>{"--opt", "model-hash=" + hash[1].str()} + owner_tls,
                        dir / "owner");
  ASSERT_EQ(good.status, 0) << good.err;
  EXPECT_NE(good.err.find(tee::kSimulatedWarning), std::string::npos) << good.err;
  auto plain = run_child({bin, "generate", "--model", genuine.string(), "--prompt", "Once upon a time", "-n", "12",
                          "--ignore-eos"},
                         dir / "plain");
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_GT(plain.out.size(), 30u);
  EXPECT_EQ(good.out, plain.out);

  enclave->signal(SIGTERM);
  worker->signal(SIGTERM);
  EXPECT_EQ(enclave->wait(30s), std::optional<int>(0)) << enclave->err();
  EXPECT_EQ(worker->wait(30s), std::optional<int>(0)) << worker->err();
}

}  // namespace
}  // namespace veil::designs::obfuscatune
