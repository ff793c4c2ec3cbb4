// `veil worker` child processes on loopback: a remote run equals the local one, over TLS and
// without; a worker killed mid-run and restarted on the same port costs nothing but time (the run
// ends with exactly the adapter of an uninterrupted run against the same workers).
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

#include "designs/plain/plain_test_util.h"
#include "support/child_process.h"
#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/train/finetune.h"
#include "veil/util/file_io.h"

namespace veil::designs::plain {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using veil::testing::Child;
using veil::testing::veil_binary;

struct Tls {
  fs::path ca, cert, key;            // the workers' (veil://worker/w)
  fs::path client_cert, client_key;  // the data owner's (veil://data-owner/d)
};

// A CA and the parties' certificates from `veil ca init` and `veil cert issue`. The workers'
// names them only by a DNS name, veil-worker.test, which does not resolve: the data owner dials
// 127.0.0.1 and says which name to expect with --tls-server-name (as for workers reached by IP
// address).
constexpr const char* kWorkerName = "veil-worker.test";
std::optional<Tls> make_certs(const fs::path& dir) {
  const auto d = dir.string(), bin = veil_binary().string();
  const std::string cmd = "cd " + d + " && " + bin + " ca init --out ca && " + bin +
                          " cert issue --ca ca --role worker --name w --dns " + kWorkerName + " --out worker && " + bin +
                          " cert issue --ca ca --role data-owner --name d --out owner >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  return Tls{dir / "ca/ca.pem", dir / "worker/cert.pem", dir / "worker/key.pem", dir / "owner/cert.pem", dir / "owner/key.pem"};
}

std::vector<std::string> tls_args(const std::optional<Tls>& tls) {
  if (!tls) return {"--insecure"};
  return {"--tls-cert", tls->cert.string(), "--tls-key", tls->key.string(), "--tls-ca", tls->ca.string()};
}

// `veil worker` for layers [first, last) on `port` (0: any); returns its address once it listens.
std::unique_ptr<Child> start_worker(const fs::path& dir, const std::string& name, int first, int last, int port,
                                    const std::optional<Tls>& tls, std::string* address) {
  std::vector<std::string> args = {veil_binary().string(), "worker", "--design", "plain", "--model",
                                   (fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny").string(), "--layers",
                                   std::to_string(first) + ":" + std::to_string(last), "--listen",
                                   "127.0.0.1:" + std::to_string(port)};
  for (auto& a : tls_args(tls)) args.push_back(a);
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

int port_of(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

bool worker_command_exists() {
  const auto cmd = veil_binary().string() + " worker --help >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

struct MultiProcess : ::testing::Test {
  void SetUp() override {
    if (!worker_command_exists()) GTEST_SKIP() << "this build's veil has no `worker` command yet";
    register_builtin_designs();
  }
};

// The uninterrupted local run (same configuration as the remote ones).
const fs::path& local_run() {
  static const fs::path out = [] {
    auto dir = fs::temp_directory_path() / ("veil-plain-multiprocess-local-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto cfg = testing::tiny_run(dir);
    cfg.max_steps = 6;
    (void)train::run_finetune(cfg);
    return dir;
  }();
  return out;
}

std::vector<std::string> finetune_args(const fs::path& out, const std::string& workers, const std::optional<Tls>& tls) {
  const auto c = testing::tiny_run(out);
  std::vector<std::string> args = {veil_binary().string(), "finetune", "--design", "plain", "--model", c.model.string(),
                                   "--data", c.data.string(), "--out", out.string(), "--seq-len", "32",
                                   "--batch-size", "2", "--grad-accum", "2", "--max-steps", "6", "--max-examples", "40",
                                   "--val-fraction", "0", "--lr", "0.003", "--save-every", "1", "--workers", workers,
                                   "--quiet"};
  if (tls) {
    Tls owner = *tls;
    owner.cert = tls->client_cert, owner.key = tls->client_key;
    for (auto& a : tls_args(owner)) args.push_back(a);
    args.insert(args.end(), {"--tls-server-name", kWorkerName});
  } else {
    args.push_back("--insecure");
  }
  return args;
}

void expect_same_as_local(const fs::path& out) {
  auto la = testing::train_losses(local_run()), lb = testing::train_losses(out);
  ASSERT_EQ(la.size(), 6u);
  ASSERT_EQ(lb.size(), la.size());
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-5) << "step " << i + 1;
  EXPECT_LT(testing::adapter_relative_l2(local_run(), out), testing::kAdapterRelativeTolerance)
      << "largest difference " << testing::adapter_max_diff(local_run(), out);
}

void run_two_workers(const fs::path& dir, const std::optional<Tls>& tls) {
  std::string a1, a2;
  auto w1 = start_worker(dir, "w1", 0, 2, 0, tls, &a1);
  auto w2 = start_worker(dir, "w2", 2, 6, 0, tls, &a2);
  ASSERT_TRUE(w1 && w2);
  Child run(finetune_args(dir / "out", a1 + "," + a2, tls), dir / "finetune");
  auto status = run.wait(120s);
  ASSERT_TRUE(status) << "veil finetune did not finish";
  ASSERT_EQ(*status, 0) << run.err();
  expect_same_as_local(dir / "out");
  auto summary = nlohmann::json::parse(util::read_file(dir / "out/summary.json"));
  const auto& rep = summary.at("design_report");
  ASSERT_EQ(rep.at("workers").size(), 2u);
  EXPECT_EQ(rep.at("workers")[0].at("peer"), a1);
  EXPECT_GT(rep.at("bytes_sent_per_token").get<double>(), 0);
  EXPECT_GT(rep.at("workers")[1].at("calls").get<int>(), 0);
  w1->signal(SIGTERM);
  w2->signal(SIGTERM);
  EXPECT_EQ(w1->wait(30s), std::optional<int>(0)) << w1->err();
  EXPECT_EQ(w2->wait(30s), std::optional<int>(0)) << w2->err();
}

TEST_F(MultiProcess, TwoTlsWorkersEqualTheLocalRun) {
  auto dir = testing::scratch_dir();
  auto certs = make_certs(dir);
  ASSERT_TRUE(certs) << "veil ca init / veil cert issue could not make the certificates";
  run_two_workers(dir, certs);
}

TEST_F(MultiProcess, TwoInsecureLoopbackWorkersEqualTheLocalRun) { run_two_workers(testing::scratch_dir(), std::nullopt); }

TEST_F(MultiProcess, KilledWorkerIsWaitedForAndTheRunEndsWithTheSameAdapter) {
  auto dir = testing::scratch_dir();
  // Over mutual TLS with certificates for kWorkerName only: reconnecting after the outage must
  // present the same credentials and expect the same name as the first connection.
  const auto tls = make_certs(dir);
  ASSERT_TRUE(tls) << "veil ca init / veil cert issue could not make the certificates";
  std::string a1, a2;
  auto w1 = start_worker(dir, "w1", 0, 3, 0, tls, &a1);
  auto w2 = start_worker(dir, "w2", 3, 6, 0, tls, &a2);
  ASSERT_TRUE(w1 && w2);
  // The reference: the same run against the same workers, uninterrupted.
  {
    Child reference(finetune_args(dir / "uninterrupted", a1 + "," + a2, tls), dir / "uninterrupted");
    auto status = reference.wait(120s);
    ASSERT_TRUE(status) << "the uninterrupted run did not finish";
    ASSERT_EQ(*status, 0) << reference.err();
  }
  Child run(finetune_args(dir / "out", a1 + "," + a2, tls), dir / "finetune");
  // Pause the data owner once step 2 is logged, kill worker 2 while it cannot notice, go on.
  bool paused = false;
  for (int i = 0; i < 3000 && !paused; ++i) {
    if (testing::train_losses(dir / "out").size() >= 2) {
      run.signal(SIGSTOP);
      paused = true;
    } else {
      ASSERT_FALSE(run.wait(10ms)) << "finetune ended early:\n" << run.err();
    }
  }
  ASSERT_TRUE(paused) << "step 2 never came";
  const auto steps_before = testing::train_losses(dir / "out").size();
  ASSERT_LT(steps_before, 6u);
  w2->signal(SIGKILL);
  ASSERT_TRUE(w2->wait(10s));
  run.signal(SIGCONT);
  // The data owner reports the outage and waits.
  bool reported = false;
  for (int i = 0; i < 500 && !reported; ++i) {
    reported = run.err().find("unavailable at step " + std::to_string(steps_before + 1)) != std::string::npos;
    if (!reported) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(reported) << run.err();
  EXPECT_EQ(testing::train_losses(dir / "out").size(), steps_before) << "no step may complete without worker 2";
  // A replacement on the same port.
  std::string again;
  auto w2b = start_worker(dir, "w2b", 3, 6, port_of(a2), tls, &again);
  ASSERT_TRUE(w2b);
  auto status = run.wait(120s);
  ASSERT_TRUE(status) << "veil finetune did not finish after the worker came back";
  ASSERT_EQ(*status, 0) << run.err();
  EXPECT_NE(run.err().find("is back"), std::string::npos) << run.err();
  // Bit for bit what the uninterrupted run with the same workers gives: the redone step starts
  // from the same adapter, optimizer state and RNG state, the workers are stateless, and the
  // micro-batch gradients are summed in a fixed order.
  EXPECT_EQ(testing::train_losses(dir / "out"), testing::train_losses(dir / "uninterrupted"));
  EXPECT_EQ(testing::adapter_max_diff(dir / "uninterrupted", dir / "out"), 0.0);
  expect_same_as_local(dir / "out");
  auto rep = nlohmann::json::parse(util::read_file(dir / "out/summary.json")).at("design_report");
  EXPECT_EQ(rep.at("outages").get<int>(), 1) << run.err();
  EXPECT_EQ(rep.at("steps_redone").get<int>(), 1);
}

TEST_F(MultiProcess, WorkerThatNeverComesBackFailsTheRunClearly) {
  auto dir = testing::scratch_dir();
  std::string a1;
  auto w1 = start_worker(dir, "w1", 0, 6, 0, std::nullopt, &a1);
  ASSERT_TRUE(w1);
  w1->signal(SIGKILL);
  ASSERT_TRUE(w1->wait(10s));
  auto args = finetune_args(dir / "out", a1, std::nullopt);
  args.insert(args.end(), {"--opt", "worker_wait_s=1"});
  Child run(args, dir / "finetune");
  auto status = run.wait(60s);
  ASSERT_TRUE(status);
  EXPECT_NE(*status, 0);
  EXPECT_NE(run.err().find(a1), std::string::npos) << run.err();
}

}  // namespace
}  // namespace veil::designs::plain
