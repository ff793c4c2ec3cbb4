// obfuscatune's four parties each from its configuration file, over mutual TLS on loopback: a worker
// (no model), the enclave (SIMULATED attestation), the model owner sealing its model, and a data
// owner that fine-tunes through the enclave and then generates from the adapter ([finetune] then
// [generate] in one file).
#include <gtest/gtest.h>

#include <csignal>

#include "party/party_support.h"
#include "veil/util/file_io.h"

namespace veil::party_test {
namespace {

using namespace std::chrono_literals;
using veil::testing::Child;
using veil::testing::veil_binary;

const fs::path kSource = VEIL_SOURCE_DIR;

std::string tls(const std::string& who) {
  return "tls-cert = \"certs/" + who + ".pem\"\ntls-key = \"certs/" + who + ".key\"\ntls-ca = \"certs/ca.pem\"\n";
}

TEST(PartyObfuscatune, FourPartiesFromTheirFiles) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto dir = test_dir() / "obf";
  PartyPki pki(dir, {{"worker", "IP:127.0.0.1,URI:veil://worker/w1"}, {"enclave", "IP:127.0.0.1,URI:veil://enclave/e1"},
                     {"owner", "DNS:owner,URI:veil://data-owner/owner"}, {"model-owner", "DNS:model-owner,URI:veil://model-owner/mo"}});
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  fs::create_directories(dir / "models");
  fs::create_directory_symlink(kSource / "models/veil-austen-tiny", dir / "models/veil-austen-tiny");
  fs::create_directories(dir / "data");
  fs::copy_file(kSource / "data/private/train/clinic_records.jsonl", dir / "data/train.jsonl");

  write(dir / "worker.toml", "role = \"worker\"\ndesign = \"obfuscatune\"\nlisten = \"127.0.0.1:0\"\n" + tls("worker"));
  Child worker({veil_binary().string(), "party", "--config", (dir / "worker.toml").string()}, dir / "worker");
  const auto worker_address = listening_address(worker);
  ASSERT_FALSE(worker_address.empty());

  auto measure = veil({"enclave", "--model-owner-key", (dir / "certs/model-owner.pem").string(), "--print-measurement"});
  ASSERT_EQ(measure.rc, 0) << measure.err;
  const std::string measurement = measure.out.substr(0, measure.out.find_last_not_of("\n") + 1);
  ASSERT_EQ(measurement.size(), 64u) << measurement;

  write(dir / "enclave.toml", "role = \"enclave\"\nlisten = \"127.0.0.1:0\"\nworkers = [\"" + worker_address +
                                  "\"]\nmodel-owner-key = \"certs/model-owner.pem\"\nattestation-key-out = \"attestation.key\"\n" +
                                  tls("enclave"));
  Child enclave({veil_binary().string(), "party", "--config", (dir / "enclave.toml").string()}, dir / "enclave");
  const auto enclave_address = listening_address(enclave);
  ASSERT_FALSE(enclave_address.empty());

  write(dir / "model-owner.toml", "role = \"model-owner\"\nmodel = \"models/veil-austen-tiny\"\nenclave = \"" + enclave_address +
                                      "\"\nexpect-measurement = \"" + measurement +
                                      "\"\nsigning-key = \"certs/model-owner.key\"\nallow-simulated = true\n"
                                      "attestation-key = \"attestation.key\"\n" + tls("model-owner"));
  const auto seal = veil({"party", "--config", (dir / "model-owner.toml").string()}, {}, 120s);
  ASSERT_EQ(seal.rc, 0) << seal.err;
  EXPECT_NE(seal.out.find("sealed "), std::string::npos) << seal.out;

  write(dir / "data-owner.toml", "role = \"data-owner\"\ndesign = \"obfuscatune\"\nenclave = \"" + enclave_address +
                                     "\"\nopt = { measurement = \"" + measurement + "\" }\nallow-simulated = true\n"
                                     "attestation-key = \"attestation.key\"\nsession-key = \"session.key\"\n" + tls("owner") +
                                     "\n[finetune]\ndata = \"data/train.jsonl\"\nout = \"out\"\nseq-len = 32\nbatch-size = 2\n"
                                     "max-steps = 2\nmax-examples = 20\nval-fraction = 0\nlr = 0.003\nquiet = true\n"
                                     "\n[generate]\nadapter = \"out\"\nprompt = \"It is\"\nmax-new-tokens = 6\nignore-eos = true\n");
  const auto owner = veil({"party", "--config", (dir / "data-owner.toml").string()}, {}, 180s);
  ASSERT_EQ(owner.rc, 0) << owner.err;
  EXPECT_NE(owner.err.find("running: veil finetune --design=obfuscatune"), std::string::npos) << owner.err;
  EXPECT_NE(owner.err.find("running: veil generate --design=obfuscatune"), std::string::npos) << owner.err;
  EXPECT_FALSE(util::read_file(dir / "out/adapter_model.safetensors").empty());
  EXPECT_GT(owner.out.size(), 1u) << "generate printed nothing";

  enclave.signal(SIGTERM);
  worker.signal(SIGTERM);
  EXPECT_EQ(enclave.wait(30s), std::optional<int>(0)) << enclave.err();
  EXPECT_EQ(worker.wait(30s), std::optional<int>(0)) << worker.err();
}

}  // namespace
}  // namespace veil::party_test
