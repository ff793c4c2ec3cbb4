// `veil worker --design split|gradfree` as a child process on loopback (mutual TLS with test
// certificates), `veil finetune --design split|gradfree --workers ...` as another: the adapter
// equals the in-process run's, and the worker's --audit-dir holds only what docs/designs/guarded.md
// says the server sees.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/shared_assets.h"
#include "transport/tls_support.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/config.h"
#include "veil/train/finetune.h"
#include "veil/transport/audit_dir.h"
#include "veil/util/file_io.h"

namespace veil {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path source(const std::string& rel) { return fs::path(VEIL_SOURCE_DIR) / rel; }

using veil::testing::Child;
using veil::testing::veil_binary;

// The run both sides do: 4 steps on the tiny model, k = 2, m = 2.
train::FinetuneConfig run_config(const std::string& design, const fs::path& out) {
  train::FinetuneConfig c;
  c.design = design;
  c.model = source("models/veil-austen-tiny");
  c.data = source("data/private/train/clinic_records.jsonl");
  c.out = out;
  c.seq_len = 32;
  c.batch_size = 2;
  c.max_steps = 4;
  c.max_examples = 24;
  c.val_fraction = 0;
  c.lora.r = 4;
  c.optim.lr = 3e-3;
  c.progress = false;
  // Both runs use one client secret (LoRA initialisation), so their adapters can be compared.
  c.design_options = {{"k", "2"}, {"m", "2"}, {"secret_file", (out.parent_path() / "client_secret").string()}};
  return c;
}

std::vector<std::string> finetune_args(const train::FinetuneConfig& c, const std::string& worker,
                                       const testing::TestPki& pki) {
  std::vector<std::string> args = {veil_binary().string(), "finetune", "--design", c.design, "--model", c.model.string(),
                                   "--data", c.data.string(), "--out", c.out.string(), "--seq-len", "32",
                                   "--batch-size", "2", "--max-steps", "4", "--max-examples", "24",
                                   "--val-fraction", "0", "--lora-r", "4", "--lr", "0.003", "--workers", worker,
                                   "--tls-cert", pki.client_cert.string(), "--tls-key", pki.client_key.string(),
                                   "--tls-ca", pki.ca.string(), "--quiet"};
  for (const auto& [k, v] : c.design_options) args.insert(args.end(), {"--opt", k + "=" + v});
  return args;
}

std::unique_ptr<Child> start_worker(const std::string& design, const fs::path& dir, const testing::TestPki& pki,
                                    std::string* address) {
  std::vector<std::string> args = {veil_binary().string(), "worker", "--design", design, "--model",
                                   source("models/veil-austen-tiny").string(), "--listen", "127.0.0.1:0",
                                   "--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string(),
                                   "--tls-ca", pki.ca.string(), "--audit-dir", (dir / "audit").string(), "--audit-full"};
  auto child = std::make_unique<Child>(args, dir / "worker");
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
  ADD_FAILURE() << "worker did not start listening:\n" << child->out() << child->err();
  return nullptr;
}

double adapter_max_diff(const fs::path& a, const fs::path& b) {
  auto cfg = model::ModelConfig::from_file(source("models/veil-austen-tiny/config.json"));
  auto x = lora::load_peft_adapter(a, cfg), y = lora::load_peft_adapter(b, cfg);
  EXPECT_EQ(x->pairs().size(), y->pairs().size());
  double d = 0;
  for (const auto& [site, p] : x->pairs()) {
    auto it = y->pairs().find(site);
    if (it == y->pairs().end()) return 1e9;
    d = std::max({d, (p.a - it->second.a).abs().max().item<double>(), (p.b - it->second.b).abs().max().item<double>()});
  }
  return d;
}

// Runs the worker and the data owner as two processes; returns what the worker recorded.
std::vector<transport::TapEntry> remote_run(const std::string& design, const fs::path& dir,
                                            const train::FinetuneConfig& local) {
  auto pki = testing::TestPki::make("veil-guarded-mp-" + design);
  if (!pki.error.empty()) {
    ADD_FAILURE() << pki.error;
    return {};
  }
  std::string address;
  auto worker = start_worker(design, dir, pki, &address);
  if (!worker) return {};
  auto remote = run_config(design, dir / "remote");
  Child run(finetune_args(remote, address, pki), dir / "finetune");
  auto status = run.wait(120s);
  EXPECT_TRUE(status) << "veil finetune did not finish";
  EXPECT_EQ(status.value_or(-1), 0) << run.err();
  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait(30s), std::optional<int>(0)) << worker->err();
  if (status.value_or(-1) != 0) return {};
  // Same adapter as in process (same seed, same data order; fp differences only).
  EXPECT_LT(adapter_max_diff(local.out, remote.out), 1e-5);
  auto summary = nlohmann::json::parse(util::read_file(remote.out / "summary.json"));
  EXPECT_EQ(summary.at("design_report").at("server").get<std::string>(), address);
  EXPECT_NEAR(summary.at("final_loss").get<double>(),
              nlohmann::json::parse(util::read_file(local.out / "summary.json")).at("final_loss").get<double>(), 1e-5);
  return transport::read_audit_dir(dir / "audit");
}

struct GuardedMultiProcess : ::testing::Test {
  void SetUp() override {
    if (std::system((veil_binary().string() + " worker --help >/dev/null 2>&1").c_str()) != 0)
      GTEST_SKIP() << "no veil binary with a `worker` command at " << veil_binary();
    designs::register_builtin_designs();
  }
};

TEST_F(GuardedMultiProcess, SplitOverTlsEqualsTheInProcessRunAndTheServerSeesOnlyTheCut) {
  auto dir = testing::scratch_dir();
  auto local = run_config("split", dir / "local");
  (void)train::run_finetune(local);
  auto entries = remote_run("split", dir, local);
  ASSERT_FALSE(entries.empty());
  const std::int64_t d = 192;
  std::map<std::string, int> received;
  for (const auto& e : entries) {
    const auto& m = e.message;
    if (e.direction == transport::Direction::kReceived) ++received[m.op];
    if (m.op == "split.open" && e.direction == transport::Direction::kReceived) {
      // Only the cut, no server LoRA, f32: no seed, learning rate or other option of the client's.
      EXPECT_EQ(m.ints, (std::vector<std::int32_t>{2, 4, 0, 0, 0}));
      EXPECT_EQ(m.meta, (std::map<std::string, std::string>{{"mix", "none"}}));
      EXPECT_TRUE(m.tensors.empty());
    }
    if (m.op == "split.open" || m.op == "worker.info") continue;
    for (const auto& [name, t] : m.tensors) {
      // Only hidden states at the cut (forward) and gradients at its ends (backward), f32 [B, T, d].
      EXPECT_TRUE((m.op == "split.forward" && name == "h") || (m.op == "split.backward" && name == "g"))
          << m.op << " carries " << name;
      EXPECT_EQ(t.scalar_type(), at::kFloat);
      ASSERT_EQ(t.dim(), 3);
      EXPECT_EQ(t.size(2), d);
    }
    if (e.direction != transport::Direction::kReceived) continue;
    if (m.op == "split.forward") {
      EXPECT_EQ(m.ints, (std::vector<std::int32_t>{m.ints[0], 0, 1}));  // micro-batch id, offset 0, keep graph
    }
    EXPECT_TRUE(m.meta.empty()) << m.op;  // split.step carries no learning rate
    if (m.op == "split.step") {
      EXPECT_TRUE(m.ints.empty() && m.tensors.empty());
    }
  }
  // The registry's handshake (the worker's design and layers), then the split ops.
  EXPECT_EQ(received["worker.info"], 1);
  EXPECT_EQ(received["split.open"], 1);
  EXPECT_EQ(received["split.forward"], 4);
  EXPECT_EQ(received["split.backward"], 4);
  EXPECT_EQ(received["split.step"], 4);
  EXPECT_EQ(received.size(), 5u) << "the server received an op the docs do not list";
}

TEST_F(GuardedMultiProcess, GradfreeOverTlsEqualsTheInProcessRunAndNoGradientCrosses) {
  auto dir = testing::scratch_dir();
  auto local = run_config("gradfree", dir / "local");
  (void)train::run_finetune(local);
  auto entries = remote_run("gradfree", dir, local);
  ASSERT_FALSE(entries.empty());
  int forwards = 0;
  for (const auto& e : entries) {
    const auto& m = e.message;
    EXPECT_NE(m.op, "split.backward");
    EXPECT_EQ(m.tensors.count("g"), 0u) << m.op;
    if (m.op == "split.open" || m.op == "worker.info") continue;
    for (const auto& [name, t] : m.tensors) {
      EXPECT_EQ(name, "h") << m.op;
    }
    if (e.direction == transport::Direction::kReceived && m.op == "split.forward") {
      ++forwards;
      ASSERT_EQ(m.ints.size(), 3u);
      EXPECT_EQ(m.ints[2], 0) << "a gradfree forward asked the server to keep a graph";
    }
  }
  EXPECT_EQ(forwards, 4);
}

}  // namespace
}  // namespace veil
