// Every registered design through the same checks: one real optimizer step on the tiny model with
// its untrusted party's audit tap on (eval::run_attack_round, as `veil evaluate` runs it); the tap
// decodes through the design's observe() into what the party saw, and the session's typed cost
// states its traffic and enclave share.
#include <gtest/gtest.h>

#include <cctype>

#include <ATen/ATen.h>

#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/designs/spec.h"
#include "veil/eval/attack_round.h"
#include "veil/train/design.h"
#include "veil/train/finetune.h"

namespace veil::designs {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> session_designs() {
  register_builtin_designs();
  std::vector<std::string> out;
  for (const auto& s : design_specs())
    if (s.open_session) out.push_back(s.name);
  return out;
}

class EveryDesign : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryDesign, OneAuditedStepDecodesThroughObserveAndReportsItsCost) {
  const auto name = GetParam();
  const auto spec = design_spec(name);
  auto out = testing::scratch_dir();
  train::FinetuneConfig fc;
  fc.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  fc.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  fc.out = out / "run";
  fc.design = name;
  fc.seq_len = 16;
  fc.batch_size = 2;
  fc.progress = false;
  const auto rows = at::randint(1, 1000, {2, 17}, at::kLong);
  auto round = eval::run_attack_round(fc, rows, out / "audit", {}, 192);
  const auto& obs = round.observation;
  EXPECT_EQ(obs.design, name);
  EXPECT_FALSE(obs.simulated);
  if (spec.install_worker && spec.evaluation.view == EvaluationTraits::View::kAuditTap) {
    // A design with a worker half in its default (audited) run showed its worker something, and the reader made sense of it:
    // plaintext states, keyed inputs, or opaque blobs.
    EXPECT_GT(round.messages, 0u) << name;
    EXPECT_TRUE(!obs.activations.empty() || !obs.keyed_inputs.empty() || !obs.opaque_blobs.empty()) << name;
    for (const auto& v : obs.activations) EXPECT_EQ(v.hidden.size(-1), 192) << name;
  }
  // The typed cost of a fresh session's run (run_finetune writes it to summary.json).
  fc.max_steps = 1;
  fc.max_examples = 20;
  fc.val_fraction = 0;
  auto r = train::run_finetune(fc);
  const auto j = r.summary.at("design_cost");
  for (const char* key : {"bytes_up_per_token", "bytes_down_per_token", "bytes_per_token", "round_trips_per_step",
                          "owner_parameter_share", "enclave_parameter_share", "owner_flops_per_token",
                          "peak_memory_bytes"})
    EXPECT_TRUE(j.contains(key)) << name << ": " << key;
  ASSERT_TRUE(r.cost.bytes_per_token().has_value()) << name << ": " << j.dump();
  EXPECT_GE(*r.cost.bytes_per_token(), 0) << name;
  ASSERT_TRUE(r.cost.enclave_parameter_share.has_value()) << name;
}

INSTANTIATE_TEST_SUITE_P(Registered, EveryDesign, ::testing::ValuesIn(session_designs()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace veil::designs
