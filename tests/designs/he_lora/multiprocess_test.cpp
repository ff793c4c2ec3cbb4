// he-lora through bin/veil. Over the wire: two `veil worker --design he-lora` child processes on
// loopback with mutual TLS, `veil finetune --design he-lora --workers a,b` as a third process; the
// adapter equals the in-process run's bit for bit, and each worker's --audit-dir holds only
// ciphertexts under 128-bit parameters. And `veil generate --design he-lora` against plain greedy.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "designs/he_lora/audit_check.h"
#include "support/child_process.h"
#include "support/shared_assets.h"
#include "transport/tls_support.h"
#include "veil/designs/registry.h"
#include "veil/train/finetune.h"
#include "veil/transport/audit_dir.h"
#include "veil/util/file_io.h"

namespace veil::designs::he_lora {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using veil::testing::Child;
using veil::testing::veil_binary;

// `veil worker --design he-lora` for layers [first, last) with the server certificate and an audit
// directory; returns it once it listens, its address in `address`.
std::unique_ptr<Child> start_worker(const fs::path& dir, const std::string& name, const fs::path& model, int first,
                                    int last, const veil::testing::TestPki& pki, std::string* address) {
  std::vector<std::string> args = {veil_binary().string(), "worker", "--design", "he-lora", "--model", model.string(),
                                   "--layers", std::to_string(first) + ":" + std::to_string(last), "--listen",
                                   "127.0.0.1:0", "--tls-cert", pki.server_cert.string(), "--tls-key",
                                   pki.server_key.string(), "--tls-ca", pki.ca.string(), "--audit-dir",
                                   (dir / (name + "-audit")).string(), "--audit-full", "--party", name};
  auto child = std::make_unique<Child>(args, dir / name);
  static const std::regex listening("listening on (\\S+:[0-9]+)");
  for (int i = 0; i < 1500; ++i) {
    std::smatch m;
    const auto text = child->out() + child->err();
    if (std::regex_search(text, m, listening)) {
      *address = m[1];
      return child;
    }
    if (child->wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "worker " << name << " did not start listening:\n" << child->out() << child->err();
  return nullptr;
}

// One configuration for both runs: 1 step of 2 x 16 tokens (the row layout: 32 rows < N/16) with
// evaluation on one held-out example, so every kind of call (embedding, q/k/v, o, gate/up, down,
// LM head, forward and backward) crosses the wire.
train::FinetuneConfig config(const fs::path& model, const fs::path& out) {
  train::FinetuneConfig c;
  c.model = model;
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.design = "he-lora";
  c.seq_len = 16;
  c.batch_size = 2;
  c.max_steps = 1;  // the adapter after one step depends on every forward and backward product
  c.max_examples = 64;
  c.val_fraction = 0.02;
  c.optim.lr = 5e-3;
  c.seed = 3;
  c.progress = false;
  return c;
}

std::vector<std::string> finetune_args(const train::FinetuneConfig& c, const std::string& workers,
                                       const veil::testing::TestPki& pki) {
  auto num = [](auto v) {
    std::ostringstream s;
    s << v;
    return s.str();
  };
  return {veil_binary().string(), "finetune", "--design", "he-lora", "--model", c.model.string(), "--data",
          c.data.string(), "--out", c.out.string(), "--seq-len", num(c.seq_len), "--batch-size", num(c.batch_size),
          "--max-steps", num(c.max_steps), "--max-examples", num(c.max_examples), "--val-fraction",
          num(c.val_fraction), "--lr", num(c.optim.lr), "--seed", num(c.seed), "--workers", workers, "--tls-cert",
          pki.client_cert.string(), "--tls-key", pki.client_key.string(), "--tls-ca", pki.ca.string(), "--quiet"};
}

bool worker_command_exists() {
  const auto cmd = veil_binary().string() + " worker --help >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST(HeLoraMultiProcess, TwoTlsWorkersEqualTheInProcessRunAndSeeOnlyCiphertexts) {
  VEIL_REQUIRE_SHARED(assets);
  if (!worker_command_exists()) GTEST_SKIP() << "no bin/veil with a worker command under VEIL_BINARY_DIR";
  register_builtin_designs();
  auto pki = veil::testing::TestPki::make("veil-he-lora-mp");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  const auto model = assets / "models/stories260K-hf";
  const auto dir = veil::testing::scratch_dir();

  // Reference: the same run with its two workers in this process.
  auto local = config(model, dir / "local");
  local.design_options = {{"workers", "in-process:2"}};
  const auto ref = train::run_finetune(local);

  std::string a1, a2;  // stories260K has 5 layers
  auto w1 = start_worker(dir, "w1", model, 0, 2, pki, &a1);
  auto w2 = start_worker(dir, "w2", model, 2, 5, pki, &a2);
  ASSERT_TRUE(w1 && w2);
  Child run(finetune_args(config(model, dir / "remote"), a1 + "," + a2, pki), dir / "finetune");
  const auto status = run.wait(120s);
  ASSERT_TRUE(status) << "veil finetune did not finish";
  ASSERT_EQ(*status, 0) << run.err();

  // Exact: decryption returns the exact integer products, quantisation is deterministic and the
  // data owner's float code is the same in both processes, so the adapter is bit-identical (the
  // one-time keys differ between the runs; they never reach a decrypted value).
  EXPECT_EQ(util::read_file(dir / "local/adapter_model.safetensors"),
            util::read_file(dir / "remote/adapter_model.safetensors"));
  const auto summary = nlohmann::json::parse(util::read_file(dir / "remote/summary.json"));
  EXPECT_EQ(summary["design_report"]["workers"], 2);
  EXPECT_EQ(summary["design_report"]["security_bits"], 128);
  EXPECT_EQ(summary["final_loss"], ref.summary["final_loss"]);

  w1->signal(SIGTERM);
  w2->signal(SIGTERM);
  EXPECT_EQ(w1->wait(30s), std::optional<int>(0)) << w1->err();
  EXPECT_EQ(w2->wait(30s), std::optional<int>(0)) << w2->err();

  // What each worker process recorded on disk over the whole run (with evaluation).
  std::size_t ciphertexts = 0;
  for (const char* name : {"w1", "w2"}) {
    const auto entries = transport::read_audit_dir(dir / (std::string(name) + "-audit"));
    const auto s = check_worker_audit(entries);
    ASSERT_TRUE(s.parameters) << name << " never received he.setup";
    EXPECT_EQ(security_bits(*s.parameters), 128);
    EXPECT_GT(s.ciphertexts, 20u) << name;
    ciphertexts += s.ciphertexts;
  }
  EXPECT_GT(ciphertexts, 100u);
}

// `veil generate --design he-lora`: 48 greedy tokens with every base-weight product encrypted
// (16-bit activations, the default 8-bit weights) print the same text as plain greedy generation.
TEST(HeLoraCli, GenerateAt16BitsEqualsPlainGreedy) {
  VEIL_REQUIRE_SHARED(assets);
  if (!worker_command_exists()) GTEST_SKIP() << "no bin/veil under VEIL_BINARY_DIR";
  const auto dir = veil::testing::scratch_dir();
  const std::vector<std::string> common = {veil_binary().string(), "generate", "--model",
                                           (assets / "models/stories260K-hf").string(), "--prompt",
                                           "Once upon a time", "-n", "48", "--ignore-eos"};
  auto run = [&](const std::string& name, std::vector<std::string> extra) {
    auto args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    Child c(args, dir / name);
    const auto status = c.wait(60s);
    EXPECT_EQ(status, std::optional<int>(0)) << c.err();
    return c.out();
  };
  const auto plain = run("plain", {});
  const auto he = run("he", {"--design", "he-lora", "--opt", "bits=16"});
  EXPECT_GT(plain.size(), 100u) << plain;
  EXPECT_EQ(he, plain);
  // A design generate does not know is refused with one clear message.
  Child bad({veil_binary().string(), "generate", "--model", (assets / "models/stories260K-hf").string(), "--design",
             "nope", "-n", "1"},
            dir / "bad");
  EXPECT_NE(bad.wait(60s), std::optional<int>(0));
  EXPECT_NE(bad.err().find("--design 'nope'"), std::string::npos) << bad.err();
}

}  // namespace
}  // namespace veil::designs::he_lora
