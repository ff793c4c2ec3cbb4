// `--design obfuscatune` through run_finetune: the same loss curve and adapter as `plain`, the
// report in summary.json, and options it does not know rejected.
#include <gtest/gtest.h>


#include <ATen/ATen.h>

#include "support/run_metrics.h"
#include "support/shared_assets.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/designs/registry.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"
#include "veil/train/finetune.h"

namespace veil::designs::obfuscatune {
namespace {
namespace fs = std::filesystem;

train::FinetuneConfig tiny_run(const fs::path& out) {
  train::FinetuneConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.seq_len = 32;
  c.batch_size = 2;
  c.grad_accum = 2;
  c.max_steps = 4;
  c.max_examples = 40;
  c.val_fraction = 0;
  c.optim.lr = 3e-3;
  c.progress = false;
  return c;
}

TEST(ObfuscatuneSession, FinetuneMatchesPlainAndReports) {
  register_builtin_designs();
  const auto base = veil::testing::scratch_dir();
  auto plain = tiny_run(base / "plain");
  (void)train::run_finetune(plain);
  auto obf = tiny_run(base / "obf");
  obf.design = "obfuscatune";
  obf.design_options = {{"freivalds", "1"}};
  auto r = train::run_finetune(obf);
  auto la = veil::testing::train_losses(base / "plain"), lb = veil::testing::train_losses(base / "obf");
  ASSERT_EQ(la.size(), 4u);
  ASSERT_EQ(lb.size(), la.size());
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * la[i]) << "step " << i + 1;
  auto cfg = model::read_model(plain.model).config;
  auto pa = lora::load_peft_adapter(base / "plain", cfg)->parameters();
  auto pb = lora::load_peft_adapter(base / "obf", cfg)->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  // AdamW's first steps move every element by about ±lr whatever its gradient's size, so elements
  // whose gradient is at rounding level may differ by up to 2·lr; the adapter as a whole agrees.
  double num = 0, den = 0, d = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    num += (pa[i] - pb[i]).pow(2).sum().item<double>();
    den += pa[i].pow(2).sum().item<double>();
    d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  }
  std::printf("adapter: relative L2 difference %.3g, max abs %.3g\n", std::sqrt(num / den), d);
  EXPECT_LT(std::sqrt(num / den), 1e-3);
  EXPECT_LE(d, 2 * obf.optim.lr);
  const auto& rep = r.summary.at("design_report");
  EXPECT_EQ(rep.at("matrix"), "kronecker");
  EXPECT_EQ(rep.at("variant"), "matched");
  EXPECT_GT(rep.at("freivalds_checks").get<int>(), 0);
  EXPECT_GT(rep.at("enclave_parameter_share").get<double>(), 0.0);
  EXPECT_GT(rep.at("bytes_per_token").get<double>(), 0.0);
}

TEST(ObfuscatuneSession, RejectsUnknownOptions) {
  register_builtin_designs();
  auto cfg = tiny_run(veil::testing::scratch_dir());
  cfg.design = "obfuscatune";
  cfg.design_options = {{"kapa", "10"}};
  try {
    (void)train::run_finetune(cfg);
    ADD_FAILURE() << "accepted an unknown option";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown --opt 'kapa'"), std::string::npos) << e.what();
  }
}

// An in-process run has no use for --enclave and refuses it instead of ignoring it; the run
// through an enclave refuses what only a local run uses, before connecting anywhere.
TEST(ObfuscatuneSession, RefusesFlagsItDoesNotUse) {
  register_builtin_designs();
  auto expect_refused = [](auto&& run, const std::string& flag) {
    try {
      run();
      ADD_FAILURE() << "accepted " << flag;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  auto cfg = tiny_run(veil::testing::scratch_dir());
  cfg.design = "obfuscatune";
  cfg.parties.enclave = "127.0.0.1:1";
  expect_refused([&] { (void)train::run_finetune(cfg); }, "--enclave");
  cfg.design_options = {{"measurement", std::string(64, 'a')}};
  expect_refused([&] { (void)finetune_through_enclave(cfg); }, "--model");
  cfg.model.clear();
  cfg.save_every = 2;
  expect_refused([&] { (void)finetune_through_enclave(cfg); }, "--save-every");
  cfg.save_every = 0;
  cfg.design_options.clear();
  expect_refused([&] { (void)finetune_through_enclave(cfg); }, "--opt measurement");
  cfg.design_options = {{"measurement", std::string(64, 'a')}, {"kapa", "3"}};
  expect_refused([&] { (void)finetune_through_enclave(cfg); }, "unknown --opt 'kapa'");
  cfg.design_options = {{"enclave_run", "0123"}};
  cfg.parties.enclave.clear();
  cfg.model = tiny_run("x").model;
  expect_refused([&] { (void)train::run_finetune(cfg); }, "reserved");
}

}  // namespace
}  // namespace veil::designs::obfuscatune
