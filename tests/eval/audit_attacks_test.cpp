// The attacks on what a design's untrusted party REALLY received: one step of the design on known
// private records (run_attack_round), its in-process worker recording an audit tap on disk, read
// back and attacked. stories260K from ../shared (skipped when absent), the project's synthetic
// clinic records, public text from data/public.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include <ATen/ATen.h>

#include "attack_fixture.h"
#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/eval/attack_round.h"
#include "veil/eval/attacks/gradient_matching.h"
#include "veil/eval/attacks/he_security.h"
#include "veil/eval/attacks/inversion.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/train/finetune.h"

namespace veil::eval {
namespace {
namespace fs = std::filesystem;
using namespace veil::eval::testing;

class AuditAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto shared = veil::testing::shared_assets();
    if (!shared) GTEST_SKIP() << "../shared/assets not found (set VEIL_SHARED_DIR)";
    model_ = *shared / "models/stories260K-hf";
    pub_ = std::make_unique<model::LoadedModel>(model::load_model(model_));
    auto tok = tokenizer::load_tokenizer(model_);
    rows_ = token_rows(*tok, source_dir() / "data/private/train/clinic_records.jsonl", 4, 33);
    designs::register_builtin_designs();
  }
  [[nodiscard]] at::Tensor ids() const { return rows_.slice(1, 0, rows_.size(1) - 1); }
  model::CausalLM& m() { return *pub_->model; }

  AttackRound round_of(const std::string& design, std::map<std::string, std::string> opts = {}) {
    train::FinetuneConfig fc;
    fc.model = model_;
    fc.data = source_dir() / "data/private/train/clinic_records.jsonl";
    fc.out = veil::testing::scratch_dir() / design;
    fc.design = design;
    fc.design_options = std::move(opts);
    fc.seq_len = rows_.size(1) - 1;
    fc.batch_size = rows_.size(0);
    return run_attack_round(fc, rows_, fc.out / "audit", {}, m().config().hidden_size);
  }

  fs::path model_;
  std::unique_ptr<model::LoadedModel> pub_;
  at::Tensor rows_;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Unprotected split (U-shaped, k = 1 and k = 2): the server's tap holds the states at block k and
// the gradient at the input of the data owner's top block; every attack recovers >= 90%.
TEST_F(AuditAttackTest, EachAttackRecoversAnUnprotectedSplitRunFromItsAuditTap) {
  for (int k : {1, 2}) {
    auto round = round_of("split", {{"k", std::to_string(k)}});
    const auto& obs = round.observation;
    EXPECT_FALSE(obs.simulated);
    ASSERT_EQ(obs.activations.size(), 1u) << round.messages << " messages";
    const auto& v = obs.activations[0];
    EXPECT_EQ(v.layer, k);
    EXPECT_EQ(v.grad_layer(), m().config().num_layers - 1);
    ASSERT_TRUE(v.gradient.defined());
    ASSERT_EQ(v.hidden.sizes(), (at::IntArrayRef{4, 32, m().config().hidden_size}));

    auto t0 = std::chrono::steady_clock::now();
    const double nn = accuracy(ids(), nn_inversion(m(), v.hidden, v.layer));
    const double t_nn = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const double grad = accuracy(ids(), gradient_matching(m(), v));
    const double t_grad = seconds_since(t0);
    std::printf("k=%d: nn %.3f (%.1f s), gradient %.3f (%.1f s)\n", k, nn, t_nn, grad, t_grad);
    EXPECT_GE(nn, 0.9) << "k " << k;
    EXPECT_GE(grad, 0.9) << "k " << k;
    if (k != 1) continue;
    auto tok = tokenizer::load_tokenizer(model_);
    auto pub_text = token_rows(*tok, source_dir() / "data/public/persuasion.jsonl", 48, 32);
    LearnedInversionOptions lo;
    lo.steps = 150;
    auto inv = LearnedInverter::train(m(), pub_text, v.layer, lo);
    const double learned = accuracy(ids(), inv.invert(v.hidden));
    GradientMatchingOptions bo;
    bo.steps = 10;
    bo.discrete_sweeps = 1;
    const double bisr_acc = accuracy(ids(), bisr(m(), v, inv, bo));
    std::printf("k=1: learned %.3f, bisr %.3f\n", learned, bisr_acc);
    EXPECT_GE(learned, 0.9);
    EXPECT_GE(bisr_acc, 0.9);
  }
}

// he-lora: the worker's tap holds ciphertexts only, under a 128-bit parameter set.
TEST_F(AuditAttackTest, HeLoraWorkerSeesCiphertextsOnly) {
  auto round = round_of("he-lora");
  const auto& obs = round.observation;
  EXPECT_GT(round.messages, 0u);
  EXPECT_FALSE(obs.has_plaintext()) << obs.activations.size() << " activations, " << obs.weights.size() << " weights";
  EXPECT_TRUE(obs.keyed_inputs.empty());
  auto sec = he_security_from_blobs(obs.opaque_blobs);
  ASSERT_TRUE(sec.has_value());
  EXPECT_GE(sec->security_bits, 128);
}

// obfuscatune: the keyed inputs x·R alone do not invert (far below split's >= 90%); the
// obfuscated weights against the public ones give the two-sided key of layer 0, and then they do.
TEST_F(AuditAttackTest, ObfuscatuneKeyedInputsResistInversionButTheKeyFallsToThePublicWeights) {
  auto round = round_of("obfuscatune");
  const auto& obs = round.observation;
  EXPECT_TRUE(obs.activations.empty());
  const KeyedInput* in = nullptr;
  for (const auto& k : obs.keyed_inputs)
    if (k.layer == 0 && k.projections.front() == static_cast<int>(model::Proj::kQ)) in = &k;
  ASSERT_NE(in, nullptr);
  ASSERT_EQ(in->x.size(0), ids().numel());
  const double raw = accuracy(ids(), invert_attention_inputs(m(), in->x, true).reshape(ids().sizes()));
  EXPECT_LT(raw, 0.2);
  std::vector<at::Tensor> pub, obf;
  for (int p : in->projections) {
    const auto proj = static_cast<model::Proj>(p);
    pub.push_back(pub_->executor->weights().at({0, proj}));
    obf.push_back(obs.weights.at("0." + std::string(model::proj_module_name(proj))));
  }
  EXPECT_GT(gram_distance(pub[0], obf[0]), 0.1);  // both sides keyed: the one-sided invariant is gone
  auto key = recover_two_sided_key(pub, obf);
  EXPECT_LT(key.spectrum_distance, 1e-4);         // ...but the singular values still name the layer
  EXPECT_LT(key.relative_error, 1e-3);
  const double keyed = accuracy(ids(), invert_attention_inputs(m(), in->x.matmul(key.input_key.t()), true)
                                           .reshape(ids().sizes()));
  std::printf("obfuscatune: raw %.3f, after key recovery %.3f\n", raw, keyed);
  EXPECT_GE(keyed, 0.9);
}

}  // namespace
}  // namespace veil::eval
