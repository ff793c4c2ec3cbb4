// The obfuscatune enclave party end to end, in process: the model owner attests and seals the
// model, the data owner attests and seals a dataset, the enclave fine-tunes a few steps against an
// in-process worker and returns the adapter sealed to the data owner. The worker's audit tap holds
// no plaintext weight row and no token id; the enclave's tap holds no plaintext data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <ATen/ATen.h>

#include <fstream>

#include "support/shared_assets.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/designs/obfuscatune/enclave_service.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"
#include "veil/transport/in_process.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";

struct Deployment {
  std::shared_ptr<transport::Service> worker = std::make_shared<transport::Service>("worker-0");
  std::shared_ptr<transport::Service> enclave_service = std::make_shared<transport::Service>("enclave");
  std::unique_ptr<EnclaveParty> party;
  std::shared_ptr<transport::Endpoint> enclave;      // the data owner's connection
  std::shared_ptr<transport::Endpoint> model_owner;  // the model owner's

  Deployment() {
    register_builtin_designs();
    worker->set_tap(std::make_shared<transport::AuditTap>());
    enclave_service->set_tap(std::make_shared<transport::AuditTap>());
    EnclaveSettings s;
    // Its own directory: scratch_dir() empties the test's directory each time it is called.
    s.scratch = std::filesystem::temp_directory_path() / ("veil-enclave-scratch-" + std::to_string(::getpid()));
    std::filesystem::create_directories(s.scratch);
    auto w = worker;
    auto installed = std::make_shared<bool>(false);
    s.open_pool = [w, installed](const model::ModelConfig& cfg) {
      if (!*installed) {
        WorkerContext ctx;
        ctx.last_layer = static_cast<int>(cfg.num_layers);
        install_worker("obfuscatune", *w, ctx);
        *installed = true;
      }
      return transport::WorkerPool({{transport::connect_in_process(w, transport::Peer::identified(transport::Role::kEnclave, "test")),
                                     0, static_cast<int>(cfg.num_layers)}});
    };
    party = std::make_unique<EnclaveParty>(std::move(s), std::make_shared<tee::SimulatedAttester>());
    party->install(*enclave_service);
    enclave = transport::connect_in_process(enclave_service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
    model_owner = transport::connect_in_process(enclave_service, transport::Peer::identified(transport::Role::kModelOwner, "test"));
  }
};

TEST(EnclaveService, ProviderRefusesWrongMeasurement) {
  Deployment d;
  try {
    (void)attest_enclave(*d.enclave, std::string(64, '0'));
    FAIL() << "a report with the wrong measurement was accepted";
  } catch (const tee::AttestationError& e) {
    EXPECT_NE(std::string(e.what()).find("measurement mismatch"), std::string::npos) << e.what();
  }
  // Nothing was sealed: fine-tuning is refused with a clear message.
  transport::Message q;
  q.op = "enclave.finetune";
  q.meta["config"] = "{}";
  try {
    (void)d.enclave->call(q);
    FAIL();
  } catch (const transport::TransportError& e) {
    EXPECT_NE(std::string(e.what()).find("no model was sealed"), std::string::npos) << e.what();
  }
}

TEST(EnclaveService, SealedStreamForAnotherReportRefused) {
  Deployment d;
  auto report = attest_enclave(*d.model_owner, d.party->measurement());
  auto forged = report;
  forged.nonce = tee::random_bytes(32);  // a report the enclave never issued
  EXPECT_THROW((void)seal_model(*d.model_owner, forged, kModel), transport::TransportError);
}

TEST(EnclaveService, SealFinetuneAndAudit) {
  Deployment d;
  const auto dir = veil::testing::scratch_dir();
  // A small dataset with a line the test can look for.
  const fs::path data = dir / "records.jsonl";
  {
    std::ifstream in(fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl");
    std::ofstream out(data);
    std::string line;
    for (int i = 0; i < 24 && std::getline(in, line); ++i) out << line << "\n";
  }
  const std::string secret_text = "Frederick Harville";

  // Model owner.
  auto report = attest_enclave(*d.model_owner, d.party->measurement());
  EXPECT_TRUE(report.simulated);
  EXPECT_GT(seal_model(*d.model_owner, report, kModel, std::size_t{1} << 20), std::size_t{1} << 20);
  // Data owner (its own attestation, nonce and key).
  tee::SealingKey owner;
  auto report2 = attest_enclave(*d.enclave, d.party->measurement());
  (void)seal_data(*d.enclave, report2, data, owner);
  EnclaveFinetune ft;
  ft.steps = 2;
  ft.batch_size = 2;
  ft.seq_len = 32;
  ft.lr = 3e-3;
  const fs::path out = dir / "adapter";
  auto summary = finetune_in_enclave(*d.enclave, report2, owner, ft, out);
  EXPECT_EQ(summary.at("steps").get<int>(), 2);
  EXPECT_GT(summary.at("design_report").at("bytes_per_token").get<double>(), 0.0);
  auto files = model::read_model(kModel);
  auto adapter = lora::load_peft_adapter(out, files.config);
  ASSERT_NE(adapter, nullptr);
  EXPECT_FALSE(adapter->parameters().empty());

  // The worker saw no token id (no integer tensor, no blob) and no plaintext weight row.
  const auto entries = d.worker->tap()->entries();
  ASSERT_FALSE(entries.empty());
  std::int64_t checked = 0;
  for (const auto& e : entries) {
    EXPECT_TRUE(e.message.blobs.empty()) << e.message.op;
    for (const auto& [name, t] : e.message.tensors) {
      EXPECT_TRUE(at::isFloatingType(t.scalar_type())) << e.message.op << " " << name << " carries integers";
      if (t.dim() != 2) continue;
      at::Tensor seen = t.to(at::kFloat);
      for (const auto& [site, w] : files.weights.linear) {
        if (w.size(1) != seen.size(1)) continue;
        // Distance from each of a few plaintext weight rows to its nearest row of `seen`.
        at::Tensor rows = w.narrow(0, 0, std::min<std::int64_t>(4, w.size(0))).to(at::kFloat);
        at::Tensor dist = at::cdist(rows, seen).amin(1);
        EXPECT_GT(dist.min().item<double>(), 1e-3 * rows.norm().item<double>()) << e.message.op << " " << name;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
  // The enclave received the data and the model only sealed.
  for (const auto& e : d.enclave_service->tap()->entries()) {
    for (const auto& [name, b] : e.message.blobs) {
      EXPECT_EQ(b.find(secret_text), std::string::npos) << e.message.op << " " << name;
      EXPECT_EQ(b.find("\"hidden_size\""), std::string::npos) << e.message.op << " " << name;
    }
    for (const auto& [name, m] : e.message.meta) EXPECT_EQ(m.find(secret_text), std::string::npos);
  }
}

}  // namespace
}  // namespace veil::designs::obfuscatune
