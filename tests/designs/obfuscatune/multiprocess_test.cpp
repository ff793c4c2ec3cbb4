// obfuscatune's four parties as separate `veil` processes on loopback with mutual TLS, on
// stories260K: `veil worker --design obfuscatune --audit-dir`, `veil enclave --workers`, the model
// owner's `veil provider seal` and the data owner's `veil finetune --design obfuscatune --enclave`.
// The adapter that comes back equals the in-process obfuscatune run's (floating-point tolerance);
// the worker's audit record holds only obfuscated float tensors (no token id, no plaintext weight);
// `veil generate --design obfuscatune --enclave` gives plain greedy generation's text.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <regex>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/run_metrics.h"
#include "support/shared_assets.h"
#include "transport/tls_support.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/train/finetune.h"
#include "veil/transport/audit_dir.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using veil::testing::Child;
using veil::testing::veil_binary;

// Starts a server child and returns "localhost:PORT" once it listens (the test certificate names
// localhost), or nullptr.
std::unique_ptr<Child> start_server(std::vector<std::string> args, const fs::path& log, std::string* address) {
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

// Runs a child to completion; returns its stdout, failing the test on a non-zero exit.
std::string run(std::vector<std::string> args, const fs::path& log) {
  Child c(std::move(args), log);
  const auto status = c.wait(120s);
  EXPECT_TRUE(status) << log.filename() << " did not finish";
  EXPECT_EQ(status.value_or(-1), 0) << log.filename() << ":\n" << c.err();
  return c.out();
}

train::FinetuneConfig recipe(const fs::path& model, const fs::path& out) {
  train::FinetuneConfig c;
  c.model = model;
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.design = "obfuscatune";
  c.seq_len = 32;
  c.batch_size = 2;
  c.max_steps = 3;
  c.max_examples = 20;
  c.val_fraction = 0;
  c.optim.lr = 3e-3;
  c.progress = false;
  return c;
}

TEST(ObfuscatuneMultiProcess, WorkerEnclaveProviderAndDataOwnerOverMutualTls) {
  VEIL_REQUIRE_SHARED(shared);
  const fs::path model = shared / "models/stories260K-hf";
  if (std::system((veil_binary().string() + " enclave --help >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "no veil binary at " << veil_binary() << " (set VEIL_BINARY_DIR)";
  auto pki = veil::testing::TestPki::make("veil-obfuscatune-mp");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  register_builtin_designs();
  const fs::path dir = veil::testing::scratch_dir();
  const std::string bin = veil_binary().string();
  // Each party presents its role's certificate: the worker veil://worker/test, the enclave
  // veil://enclave/test (as the workers' client too), the model owner veil://model-owner/test and
  // the data owner veil://data-owner/test.
  const auto tls = [&](const fs::path& cert, const fs::path& key) {
    return std::vector<std::string>{"--tls-cert", cert.string(), "--tls-key", key.string(), "--tls-ca", pki.ca.string()};
  };
  const auto server_tls = tls(pki.server_cert, pki.server_key), enclave_tls = tls(pki.enclave_cert, pki.enclave_key),
             model_owner_tls = tls(pki.model_owner_cert, pki.model_owner_key), client_tls = tls(pki.client_cert, pki.client_key);
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  std::string worker_address, enclave_address;
  auto worker = start_server(with({bin, "worker", "--design", "obfuscatune", "--listen", "127.0.0.1:0", "--audit-dir",
                                   (dir / "audit").string(), "--audit-full"},
                                  server_tls),
                             dir / "worker", &worker_address);
  ASSERT_TRUE(worker);
  // The model owner's key is pinned in the enclave's (measured) configuration; owners accept the
  // simulated report only with --allow-simulated and the enclave's attestation key pinned.
  const std::vector<std::string> owner_pin = {"--model-owner-key", pki.model_owner_cert.string()};
  const std::vector<std::string> simulated = {"--allow-simulated", "--attestation-key", (dir / "attestation.key").string()};
  auto measurement = run(with({bin, "enclave", "--print-measurement"}, owner_pin), dir / "measure");
  measurement.erase(measurement.find_last_not_of("\n") + 1);
  ASSERT_EQ(measurement.size(), 64u) << measurement;
  fs::create_directories(dir / "scratch");
  auto enclave = start_server(with(with({bin, "enclave", "--listen", "127.0.0.1:0", "--workers", worker_address, "--scratch",
                                         (dir / "scratch").string(), "--attestation-key-out",
                                         (dir / "attestation.key").string()},
                                        owner_pin),
                                   enclave_tls),
                              dir / "enclave", &enclave_address);
  ASSERT_TRUE(enclave);

  // The model owner, then the data owner (who gives no --model).
  (void)run(with(with({bin, "provider", "seal", "--model", model.string(), "--enclave", enclave_address,
                       "--expect-measurement", measurement, "--signing-key", pki.model_owner_key.string()},
                      simulated),
                 model_owner_tls),
            dir / "provider");
  const std::vector<std::string> session = {"--session-key", (dir / "owner-session.key").string()};
  // A fifth process, the worker's certificate, tries the model swap (issue 17): the enclave refuses
  // it before reading anything (its first call, the report, admits only the owners).
  {
    Child swap(with(with({bin, "provider", "seal", "--model", model.string(), "--enclave", enclave_address,
                          "--expect-measurement", measurement, "--signing-key", pki.server_key.string()},
                         simulated),
                    server_tls),
               dir / "swap");
    EXPECT_NE(swap.wait(120s).value_or(0), 0) << "the worker's certificate sealed a model";
    EXPECT_NE(swap.err().find("permission denied"), std::string::npos) << swap.err();
    EXPECT_NE(swap.err().find("worker/test"), std::string::npos) << swap.err();
  }
  const auto c = recipe(model, dir / "out");
  (void)run(with({bin, "finetune", "--design", "obfuscatune", "--enclave", enclave_address, "--opt",
                  "measurement=" + measurement, "--data", c.data.string(), "--out", c.out.string(), "--seq-len", "32",
                  "--batch-size", "2", "--max-steps", "3", "--max-examples", "20", "--val-fraction", "0", "--lr",
                  "0.003", "--quiet"},
                 with(with(client_tls, simulated), session)),
            dir / "finetune");

  // The same run in process (fresh secret transforms: equal up to floating point).
  auto local = recipe(model, dir / "local");
  (void)train::run_finetune(local);
  const auto la = veil::testing::train_losses(local.out), lb = veil::testing::train_losses(c.out);
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), la.size());
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * la[i]) << "step " << i + 1;
  auto files = model::read_model(model);
  auto pa = lora::load_peft_adapter(local.out, files.config)->parameters();
  auto pb = lora::load_peft_adapter(c.out, files.config)->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  double num = 0, den = 0, d = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    num += (pa[i] - pb[i]).pow(2).sum().item<double>();
    den += pa[i].pow(2).sum().item<double>();
    d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  }
  EXPECT_LT(std::sqrt(num / den), 1e-3);  // as in ObfuscatuneSession.FinetuneMatchesPlainAndReports
  EXPECT_LE(d, 2 * local.optim.lr);
  const auto summary = nlohmann::json::parse(util::read_file(c.out / "summary.json"));
  EXPECT_EQ(summary.at("design_report").at("matrix"), "kronecker");

  // Generation inside the enclave, the adapter sealed with the prompt, against the plain model.
  if (std::system((bin + " generate --help 2>/dev/null | grep -q -- --enclave").c_str()) == 0) {
    const std::vector<std::string> gen = {"--prompt", "Once upon a time", "-n", "12", "--ignore-eos", "--adapter", c.out.string()};
    const auto want = run(with({bin, "generate", "--model", model.string()}, gen), dir / "generate-plain");
    const auto got = run(with(with({bin, "generate", "--design", "obfuscatune", "--enclave", enclave_address, "--opt",
                                    "measurement=" + measurement},
                                   gen),
                              with(with(client_tls, simulated), session)),
                         dir / "generate-enclave");
    EXPECT_GT(want.size(), 30u);
    EXPECT_EQ(got, want);
  }

  enclave->signal(SIGTERM);
  worker->signal(SIGTERM);
  EXPECT_EQ(enclave->wait(30s), std::optional<int>(0)) << enclave->err();
  EXPECT_EQ(worker->wait(30s), std::optional<int>(0)) << worker->err();

  // What the worker saw: float tensors only (no token id), projection numbers as ints, no blob,
  // and no plaintext weight: each of a few rows of every public weight is far from every row the
  // worker received or sent.
  const auto entries = transport::read_audit_dir(dir / "audit");
  ASSERT_FALSE(entries.empty());
  std::int64_t compared = 0;
  for (const auto& e : entries) {
    EXPECT_TRUE(e.message.blobs.empty()) << e.message.op;
    if (e.message.op.rfind("obfuscatune.", 0) == 0) {  // (worker.info carries the layer range)
      for (auto v : e.message.ints) EXPECT_TRUE(v >= 0 && v < 16) << e.message.op << " carries int " << v;
    }
    for (const auto& [name, t] : e.message.tensors) {
      ASSERT_TRUE(at::isFloatingType(t.scalar_type())) << e.message.op << " " << name << " carries integers";
      if (t.dim() != 2) continue;
      const at::Tensor seen = t.to(at::kFloat);
      for (const auto& [site, w] : files.weights.linear) {
        for (const at::Tensor& m : {w, w.t()}) {  // rows, and columns (a transposed copy)
          if (m.size(1) != seen.size(1)) continue;
          const at::Tensor rows = m.narrow(0, 0, std::min<std::int64_t>(4, m.size(0))).to(at::kFloat).contiguous();
          const at::Tensor dist = at::cdist(rows, seen).amin(1);
          EXPECT_GT(dist.min().item<double>(), 1e-3 * rows.norm().item<double>()) << e.message.op << " " << name;
          ++compared;
        }
      }
      // Nor an embedding row (a token's plaintext representation).
      const at::Tensor& emb = files.weights.params.tok_emb;
      if (emb.size(1) == seen.size(1)) {
        const at::Tensor rows = emb.narrow(0, 0, std::min<std::int64_t>(64, emb.size(0))).to(at::kFloat).contiguous();
        EXPECT_GT(at::cdist(rows, seen).min().item<double>(), 1e-4) << e.message.op << " " << name;
      }
    }
  }
  EXPECT_GT(compared, 0);
}

// `veil generate --design obfuscatune` in process (KV cache in the enclave object, projections on
// an in-process worker): greedy text equals plain greedy text, for the default and dense matrices.
TEST(ObfuscatuneCli, GreedyGenerationEqualsPlain) {
  VEIL_REQUIRE_SHARED(shared);
  if (std::system((veil_binary().string() + " generate --help 2>/dev/null | grep -q -- --enclave").c_str()) != 0)
    GTEST_SKIP() << "no veil binary with generate --design obfuscatune at " << veil_binary();
  const fs::path dir = veil::testing::scratch_dir();
  const std::vector<std::string> args = {veil_binary().string(), "generate", "--model",
                                         (shared / "models/stories260K-hf").string(), "--prompt", "Once upon a time",
                                         "-n", "40", "--ignore-eos"};
  const auto want = run(args, dir / "plain");
  EXPECT_GT(want.size(), 80u);
  for (const char* matrix : {"kronecker", "orthogonal"}) {
    auto a = args;
    for (const char* extra : {"--design", "obfuscatune", "--opt"}) a.emplace_back(extra);
    a.push_back(std::string("matrix=") + matrix);
    EXPECT_EQ(run(a, dir / matrix), want) << matrix;
  }
}

}  // namespace
}  // namespace veil::designs::obfuscatune
