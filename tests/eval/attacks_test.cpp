// Each attack against an unprotected split view of the embedded default model must recover the
// private tokens almost entirely (so the attacks are real), and fail when what the party saw is
// ciphertext or keyed with a secret it cannot recover.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <ATen/ATen.h>

#include "attack_fixture.h"
#include "veil/eval/attacks/gradient_matching.h"
#include "veil/eval/attacks/he_security.h"
#include "veil/eval/attacks/inversion.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/eval/observation.h"
#include "veil/he/context.h"
#include "veil/he/encryptor.h"
#include "veil/he/keys.h"
#include "veil/he/parameters.h"
#include "veil/he/serialization.h"
#include "veil/model/causal_lm.h"

namespace veil::eval {
namespace {
using namespace veil::eval::testing;

class AttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::manual_seed(0);
    model_ = new model::LoadedModel(model::load_model(model_dir()));
    tok_ = tokenizer::load_tokenizer(model_dir()).release();
    private_ids_ = new at::Tensor(token_rows(*tok_, source_dir() / "data/private/train/clinic_records.jsonl", 2, 24));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tok_;
    delete private_ids_;
  }
  static model::CausalLM& m() { return *model_->model; }
  static const at::Tensor& ids() { return *private_ids_; }
  static Observation split_view(int cut) { return simulate_split_view(m(), ids(), shifted_labels(ids()), cut, "split"); }

  static model::LoadedModel* model_;
  static tokenizer::Tokenizer* tok_;
  static at::Tensor* private_ids_;
};
model::LoadedModel* AttackTest::model_ = nullptr;
tokenizer::Tokenizer* AttackTest::tok_ = nullptr;
at::Tensor* AttackTest::private_ids_ = nullptr;

TEST_F(AttackTest, SimulatedSplitViewHoldsStatesAndGradients) {
  auto o = split_view(2);
  ASSERT_EQ(o.activations.size(), 1u);
  EXPECT_TRUE(o.simulated);
  const auto& v = o.activations[0];
  EXPECT_EQ(v.hidden.sizes(), (at::IntArrayRef{2, 24, 192}));
  EXPECT_EQ(v.gradient.sizes(), v.hidden.sizes());
  EXPECT_TRUE(at::allclose(v.hidden, hidden_at(m(), ids(), 2)));
  EXPECT_EQ(v.gradient.select(1, 23).abs().max().item<double>(), 0.0);  // the last label is ignored
  EXPECT_GT(v.gradient.select(1, 0).abs().max().item<double>(), 0.0);
}

TEST_F(AttackTest, NearestNeighbourInvertsEmbeddingsAndDeeperStates) {
  for (int cut : {0, 1, 3}) {
    auto v = split_view(cut).activations[0];
    auto acc = accuracy(ids(), nn_inversion(m(), v.hidden, cut));
    EXPECT_GE(acc, 0.95) << "cut " << cut;
  }
}

TEST_F(AttackTest, LearnedInversionTrainedOnPublicTextRecoversPrivateTokens) {
  auto pub = token_rows(*tok_, source_dir() / "data/public/persuasion.jsonl", 96, 32);
  LearnedInversionOptions o;
  o.steps = 400;
  auto inv = LearnedInverter::train(m(), pub, 1, o);
  auto v = split_view(1).activations[0];
  auto acc = accuracy(ids(), inv.invert(v.hidden));
  EXPECT_GE(acc, 0.85) << "train accuracy " << inv.train_accuracy();
}

// The server knows the states and the gradient: the labels (the next tokens) follow exactly.
TEST_F(AttackTest, LabelMatchingRecoversTokensFromStatesAndGradients) {
  for (int cut : {0, 1}) {
    auto v = split_view(cut).activations[0];
    auto t0 = std::chrono::steady_clock::now();
    auto rec = gradient_matching(m(), v);
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(accuracy(ids(), rec), 0.95) << "cut " << cut << " (" << secs << " s)";
  }
  // U-shaped: states at the input of block 1, the gradient at the input of the last block, and
  // every label counted (the last one too).
  const int L = m().config().num_layers;
  auto labels = shifted_labels(ids());
  labels.select(1, labels.size(1) - 1).fill_(7);
  auto v = simulate_split_view(m(), ids(), labels, 1, "split", L - 1).activations[0];
  EXPECT_EQ(v.grad_layer(), L - 1);
  EXPECT_GE(accuracy(ids(), label_matching(m(), v)), 0.95);
}

TEST_F(AttackTest, GradientMatchingRecoversTokensFromCutGradients) {
  auto v = split_view(1).activations[0];
  v.hidden = v.hidden.slice(0, 0, 1);  // one record keeps the test short
  v.gradient = v.gradient.slice(0, 0, 1);
  GradientMatchingOptions o;
  o.steps = 150;
  o.relax_only = true;
  auto rec = gradient_matching(m(), v, o);
  // From gradients alone this relaxation recovers about half the tokens (chance is 1/1024): real,
  // but far from the states' near-total recovery (docs/evaluation.md).
  EXPECT_GE(accuracy(ids().slice(0, 0, 1), rec), 0.35);
}

// Tuning aid (not run by default): VEIL_GM="steps lr candidates sweeps" ./eval_test
// --gtest_also_run_disabled_tests --gtest_filter='*Sweep*'
TEST_F(AttackTest, DISABLED_GradientMatchingSweep) {
  auto v = split_view(1).activations[0];
  GradientMatchingOptions o;
  if (const char* e = std::getenv("VEIL_GM"))
    std::sscanf(e, "%ld %lf %ld %ld", &o.steps, &o.lr, &o.candidates, &o.discrete_sweeps);
  auto rec = gradient_matching(m(), v, o);
  std::printf("steps %ld lr %g candidates %ld sweeps %ld: accuracy %.3f\n", static_cast<long>(o.steps), o.lr,
              static_cast<long>(o.candidates), static_cast<long>(o.discrete_sweeps), accuracy(ids(), rec));
}

TEST_F(AttackTest, BisrRefinesLearnedInversionToNearlyAll) {
  auto pub = token_rows(*tok_, source_dir() / "data/public/persuasion.jsonl", 64, 32);
  LearnedInversionOptions lo;
  lo.steps = 200;
  auto inv = LearnedInverter::train(m(), pub, 2, lo);
  auto v = split_view(2).activations[0];
  GradientMatchingOptions o;
  o.steps = 20;
  o.discrete_sweeps = 1;
  EXPECT_GE(accuracy(ids(), bisr(m(), v, inv, o)), 0.95);
}

TEST_F(AttackTest, ObfuscationWithOrthogonalKeyFallsToProcrustesOnPublicWeights) {
  const auto& w = model_->executor->weights().at({0, model::Proj::kQ});  // [out, in] public base weight
  const auto H = w.size(1);
  auto r = std::get<0>(at::linalg_qr(at::randn({H, H}, at::kDouble))).to(at::kFloat);
  auto w_obf = w.matmul(r);
  EXPECT_LT(gram_distance(w, w_obf), 1e-4);  // the invariant identifies the public layer
  EXPECT_GT(gram_distance(w, at::randn_like(w) * w.std()), 0.5);
  auto key = recover_orthogonal_key(w, w_obf);
  EXPECT_LT(key.relative_error, 1e-3);
  // The worker undoes the key on the activations it receives and inverts them.
  auto x = split_view(0).activations[0].hidden;
  auto acc = accuracy(ids(), nn_inversion(m(), undo_key(x.matmul(r), key.key), 0));
  EXPECT_GE(acc, 0.95);
  // Without the key recovery, the keyed activations do not invert.
  EXPECT_LT(accuracy(ids(), nn_inversion(m(), x.matmul(r), 0)), 0.2);
}

TEST_F(AttackTest, GaussianKeyFallsToLeastSquaresOnKnownPlaintext) {
  const auto& w = model_->executor->weights().at({0, model::Proj::kQ});
  const auto H = w.size(1);
  auto r = at::randn({H, H}) / std::sqrt(static_cast<double>(H));
  EXPECT_GT(gram_distance(w, w.matmul(r)), 0.1);  // no longer orthogonal: the Gram invariant breaks
  auto key = recover_linear_key(w, w.matmul(r));
  EXPECT_LT(key.relative_error, 1e-3);
  auto x = split_view(0).activations[0].hidden;
  EXPECT_GE(accuracy(ids(), nn_inversion(m(), undo_key(x.matmul(r), key.key), 0)), 0.95);
}

TEST_F(AttackTest, AttacksFailAgainstHeCiphertexts) {
  // What an HE worker receives: the quantized states, encrypted. The attacker reads the
  // ciphertext bytes as features of the same shape and inverts them.
  auto x = split_view(0).activations[0].hidden[0];  // [T, H]
  const auto T = x.size(0), H = x.size(1);
  auto parms = he::Parameters::for_matmul(8, 8, static_cast<size_t>(H));
  he::Context ctx(parms);
  auto key = he::KeyGenerator(ctx).create_one_time_key();
  auto q = (x / x.abs().max() * 127).round().clamp(-128, 127).to(at::kInt).contiguous();
  std::vector<std::int32_t> vals(q.data_ptr<std::int32_t>(), q.data_ptr<std::int32_t>() + q.numel());
  auto enc = he::Encryptor(ctx, key).encrypt(vals, T, H, he::Layout::kRows);
  auto blob = he::save(ctx, enc);
  ASSERT_GE(blob.size(), static_cast<size_t>(T * H));
  auto bytes = at::from_blob(blob.data(), {static_cast<std::int64_t>(blob.size())}, at::kByte).to(at::kFloat);
  auto feats = bytes.slice(0, blob.size() - T * H).reshape({1, T, H});  // the last T*H bytes
  feats = (feats - feats.mean()) / feats.std() * x.std();
  EXPECT_LT(accuracy(ids().slice(0, 0, 1), nn_inversion(m(), feats, 0)), 0.15);
  // What the report states instead: the security level of the parameters.
  auto pb = he::save(parms);
  auto sec = he_security_from_blobs({std::string(blob.begin(), blob.end()), std::string(pb.begin(), pb.end())});
  ASSERT_TRUE(sec.has_value());
  EXPECT_EQ(sec->security_bits, 128);
  EXPECT_EQ(sec->poly_degree, parms.poly_degree);
}

TEST_F(AttackTest, ObservationFromTapSortsStatesGradientsWeightsAndBlobs) {
  std::vector<transport::TapEntry> entries;
  transport::Message m1;
  m1.op = "custom.forward";
  m1.layer = 2;
  m1.tensors["hidden"] = at::randn({1, 5, 192});
  m1.tensors["grad_hidden"] = at::randn({1, 5, 192});
  m1.tensors["weight_q"] = at::randn({192, 192});
  m1.tensors["ids"] = at::zeros({1, 5}, at::kLong);
  m1.blobs["ct"] = "opaque";
  entries.push_back({"server", transport::Direction::kReceived, m1, 1000});
  transport::Message m2 = m1;
  m2.tensors.clear();
  entries.push_back({"server", transport::Direction::kSent, m2, 10});
  entries.push_back({"other", transport::Direction::kReceived, m1, 7});
  auto o = observation_from_tap(entries, 192, "split", "server");
  ASSERT_EQ(o.activations.size(), 1u);
  EXPECT_EQ(o.activations[0].layer, 2);
  EXPECT_TRUE(at::equal(o.activations[0].hidden, m1.tensors["hidden"]));
  EXPECT_TRUE(at::equal(o.activations[0].gradient, m1.tensors["grad_hidden"]));
  EXPECT_EQ(o.weights.count("2.weight_q"), 1u);
  EXPECT_EQ(o.opaque_blobs.size(), 1u);
  EXPECT_EQ(o.bytes_received, 1000u);
  EXPECT_EQ(o.bytes_sent, 10u);
}

}  // namespace
}  // namespace veil::eval
