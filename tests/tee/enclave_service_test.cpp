// The obfuscatune enclave party end to end, in process: the model owner attests and seals the
// model, the data owner attests and seals a dataset, the enclave fine-tunes a few steps against an
// in-process worker and returns the adapter sealed to the data owner. The worker's audit tap holds
// no plaintext weight row and no token id; the enclave's tap holds no plaintext data.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>

#include "support/shared_assets.h"
#include "tee/enclave_deployment.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;

using testing::Deployment;
using testing::kModel;

TEST(EnclaveService, ProviderRefusesWrongMeasurement) {
  Deployment d;
  try {
    auto p = d.policy();
    p.measurement = std::string(64, '0');
    (void)attest_enclave(*d.enclave, p);
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
  auto report = d.attest();
  auto forged = report;
  forged.nonce = tee::random_bytes(32);  // a report the enclave never issued
  EXPECT_THROW((void)seal_model(*d.owner, forged, kModel, d.model_owner), transport::TransportError);
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
  auto report = d.attest();
  EXPECT_TRUE(report.simulated);
  EXPECT_TRUE(report.model_hash.empty());
  const auto sealed = seal_model(*d.owner, report, kModel, d.model_owner, std::size_t{1} << 20);
  EXPECT_GT(sealed.bytes, std::size_t{1} << 20);
  // Data owner (its own attestation, nonce and keys); the report names the model it will use.
  tee::SealingKey owner;
  const auto session_key = tee::SigningKey::generate();
  auto report2 = d.attest();
  EXPECT_EQ(report2.model_hash, sealed.model_hash);
  EXPECT_EQ(report2.session, d.party->session());
  (void)seal_data(*d.enclave, report2, data, owner, session_key);
  EnclaveFinetune ft;
  ft.steps = 2;
  ft.batch_size = 2;
  ft.seq_len = 32;
  ft.lr = 3e-3;
  const fs::path out = dir / "adapter";
  auto summary = finetune_in_enclave(*d.enclave, d.attest(), owner, session_key, ft, out);
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
