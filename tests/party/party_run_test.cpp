// Parties started with `veil party --config FILE` over mutual TLS: a plain worker and a data owner,
// each from its own file, fine-tune a few steps and end with the adapter the equivalent direct
// `veil finetune ...` command line produces against the same worker, byte for byte.
#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <thread>

#include "party/party_support.h"
#include "veil/util/file_io.h"

namespace veil::party_test {
namespace {

using namespace std::chrono_literals;
using veil::testing::Child;
using veil::testing::veil_binary;

const fs::path kSource = VEIL_SOURCE_DIR;

// Waits for "listening on HOST:PORT" from a started party.
std::string listening_address(Child& c) {
  static const std::regex listening("listening on (\\S+:[0-9]+)");
  for (int i = 0; i < 1500; ++i) {
    std::smatch m;
    const auto text = c.out() + c.err();
    if (std::regex_search(text, m, listening)) return m[1];
    if (c.wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "no 'listening on':\n" << c.out() << c.err();
  return "";
}

const char* kTraining = R"(seq-len = 32
batch-size = 2
max-steps = 3
max-examples = 24
val-fraction = 0
lr = 0.003
seed = 5
quiet = true
)";

TEST(PartyRun, PlainWorkerAndDataOwnerFromFilesEqualTheDirectCommand) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto dir = test_dir() / "party-run";
  fs::remove_all(dir);
  PartyPki pki(dir, {{"worker", "IP:127.0.0.1"}, {"owner", "DNS:owner"}});
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  fs::create_directories(dir / "models");
  fs::create_directory_symlink(kSource / "models/veil-austen-tiny", dir / "models/veil-austen-tiny");
  fs::create_directories(dir / "data");
  fs::copy_file(kSource / "data/private/train/clinic_records.jsonl", dir / "data/train.jsonl");

  write(dir / "worker.toml", R"(role = "worker"
design = "plain"
model = "models/veil-austen-tiny"
listen = "127.0.0.1:0"
tls-cert = "certs/worker.pem"
tls-key = "certs/worker.key"
tls-ca = "certs/ca.pem"
)");
  Child worker({veil_binary().string(), "party", "--config", (dir / "worker.toml").string()}, dir / "worker");
  const auto address = listening_address(worker);
  ASSERT_FALSE(address.empty());

  write(dir / "owner.toml", "role = \"data-owner\"\ndesign = \"plain\"\nmodel = \"models/veil-austen-tiny\"\nworkers = [\"" +
                                address + "\"]\ntls-cert = \"certs/owner.pem\"\ntls-key = \"certs/owner.key\"\n"
                                "tls-ca = \"certs/ca.pem\"\n\n[finetune]\ndata = \"data/train.jsonl\"\nout = \"out/party\"\n" +
                                kTraining);
  // Started from another directory: the file's relative paths still resolve next to it.
  const auto owner = veil({"party", "--config", (dir / "owner.toml").string()}, {}, 120s);
  ASSERT_EQ(owner.rc, 0) << owner.err;
  EXPECT_NE(owner.err.find("running: veil finetune --design=plain"), std::string::npos) << owner.err;

  const auto direct = veil({"finetune", "--design", "plain", "--model", (dir / "models/veil-austen-tiny").string(), "--workers",
                            address, "--tls-cert", (dir / "certs/owner.pem").string(), "--tls-key",
                            (dir / "certs/owner.key").string(), "--tls-ca", (dir / "certs/ca.pem").string(), "--data",
                            (dir / "data/train.jsonl").string(), "--out", (dir / "out/direct").string(), "--seq-len", "32",
                            "--batch-size", "2", "--max-steps", "3", "--max-examples", "24", "--val-fraction", "0", "--lr",
                            "0.003", "--seed", "5", "--quiet"},
                           {}, 120s);
  ASSERT_EQ(direct.rc, 0) << direct.err;
  const auto a = util::read_file(dir / "out/party/adapter_model.safetensors");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, util::read_file(dir / "out/direct/adapter_model.safetensors"));

  // The worker was exec'd in place of `veil party`: SIGTERM reaches it and it stops cleanly.
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(30s), std::optional<int>(0)) << worker.err();
  EXPECT_NE(worker.err().find("mutual TLS"), std::string::npos) << worker.err();
}

}  // namespace
}  // namespace veil::party_test
