// Parties started with `veil party --config FILE` over mutual TLS: a worker and a data owner (plain,
// he-lora), each from its own file, fine-tune a few steps and end with the adapter the equivalent direct
// `veil finetune ...` command line produces against the same worker, byte for byte.
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

// The training keys both runs share, as file lines and as flags.
const std::vector<std::pair<std::string, std::string>> kTraining = {
    {"seq-len", "16"}, {"batch-size", "2"}, {"max-steps", "2"}, {"max-examples", "24"},
    {"val-fraction", "0"}, {"lr", "0.003"}, {"seed", "5"}};

// A worker and a data owner of `design`, each from its file over mutual TLS; then the equivalent
// direct `veil finetune` against the same worker. Returns both adapters.
std::pair<std::string, std::string> party_and_direct(const std::string& design, const fs::path& model) {
  const auto dir = test_dir() / design;
  fs::remove_all(dir);
  PartyPki pki(dir, {{"worker", "IP:127.0.0.1,URI:veil://worker/w1"}, {"owner", "DNS:owner,URI:veil://data-owner/owner"}});
  if (!pki.error.empty()) {
    ADD_FAILURE() << pki.error;
    return {};
  }
  fs::create_directories(dir / "models");
  fs::create_directory_symlink(model, dir / "models/m");
  fs::create_directories(dir / "data");
  fs::copy_file(kSource / "data/private/train/clinic_records.jsonl", dir / "data/train.jsonl");

  write(dir / "worker.toml", "role = \"worker\"\ndesign = \"" + design + "\"\nmodel = \"models/m\"\n"
                             "listen = \"127.0.0.1:0\"\ntls-cert = \"certs/worker.pem\"\ntls-key = \"certs/worker.key\"\n"
                             "tls-ca = \"certs/ca.pem\"\n");
  Child worker({veil_binary().string(), "party", "--config", (dir / "worker.toml").string()}, dir / "worker");
  const auto address = listening_address(worker);
  if (address.empty()) return {};

  std::string owner_file = "role = \"data-owner\"\ndesign = \"" + design + "\"\nmodel = \"models/m\"\nworkers = [\"" +
                           address + "\"]\ntls-cert = \"certs/owner.pem\"\ntls-key = \"certs/owner.key\"\n"
                           "tls-ca = \"certs/ca.pem\"\n\n[finetune]\ndata = \"data/train.jsonl\"\nout = \"out/party\"\nquiet = true\n";
  std::vector<std::string> direct_args = {"finetune", "--design", design, "--model", (dir / "models/m").string(),
                                          "--workers", address, "--tls-cert", (dir / "certs/owner.pem").string(),
                                          "--tls-key", (dir / "certs/owner.key").string(), "--tls-ca",
                                          (dir / "certs/ca.pem").string(), "--data", (dir / "data/train.jsonl").string(),
                                          "--out", (dir / "out/direct").string(), "--quiet"};
  for (const auto& [k, v] : kTraining) {
    owner_file += k + " = " + v + "\n";
    direct_args.insert(direct_args.end(), {"--" + k, v});
  }
  write(dir / "owner.toml", owner_file);
  // Started from another directory: the file's relative paths still resolve next to it.
  const auto owner = veil({"party", "--config", (dir / "owner.toml").string()}, {}, 120s);
  EXPECT_EQ(owner.rc, 0) << owner.err;
  EXPECT_NE(owner.err.find("running: veil finetune --design=" + design), std::string::npos) << owner.err;
  const auto direct = veil(direct_args, {}, 120s);
  EXPECT_EQ(direct.rc, 0) << direct.err;

  // The worker was exec'd in place of `veil party`: SIGTERM reaches it and it stops cleanly.
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(30s), std::optional<int>(0)) << worker.err();
  EXPECT_NE(worker.err().find("mutual TLS"), std::string::npos) << worker.err();
  if (owner.rc != 0 || direct.rc != 0) return {};
  return {util::read_file(dir / "out/party/adapter_model.safetensors"),
          util::read_file(dir / "out/direct/adapter_model.safetensors")};
}

TEST(PartyRun, PlainWorkerAndDataOwnerFromFilesEqualTheDirectCommand) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto [party, direct] = party_and_direct("plain", kSource / "models/veil-austen-tiny");
  EXPECT_FALSE(party.empty());
  EXPECT_EQ(party, direct);
}

// he-lora: the worker sees only ciphertexts (tests/designs/he_lora); from files it trains exactly
// as from the command line.
TEST(PartyRun, HeLoraWorkerAndDataOwnerFromFilesEqualTheDirectCommand) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  VEIL_REQUIRE_SHARED(assets);
  const auto [party, direct] = party_and_direct("he-lora", assets / "models/stories260K-hf");
  EXPECT_FALSE(party.empty());
  EXPECT_EQ(party, direct);
}

}  // namespace
}  // namespace veil::party_test
