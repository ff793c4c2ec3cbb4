// Weight recovery by direction matching (ArrowMatch-style) on obfuscatune's REAL worker view: the
// proprietary model is stories260K fine-tuned (every block projection, Adam) on Persuasion; the
// attacker holds the public stories260K and the obfuscated weights its worker received in an
// attack round of the design on the clinic records. stories260K from ../shared (skipped without).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <unistd.h>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "attack_fixture.h"
#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/eval/attack_round.h"
#include "veil/eval/attacks/model_confidentiality.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/eval/attacks/permutation_recovery.h"
#include "veil/eval/observation.h"
#include "veil/eval/attacks/victim_model.h"
#include "veil/eval/attacks/weight_recovery.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/train/finetune.h"

namespace veil::eval {
namespace {
namespace fs = std::filesystem;
using namespace veil::eval::testing;

struct Outcome {
  WeightRecovery rec;
  ModelConfidentiality conf;
  double inversion = 0;  // token accuracy through the recovered layer-0 q/k/v input key
};

class WeightRecoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto shared = veil::testing::shared_assets();
    if (!shared) return;
    designs::register_builtin_designs();
    base_dir_ = *shared / "models/stories260K-hf";
    auto tok = tokenizer::load_tokenizer(base_dir_);
    const auto pub = source_dir() / "data/public/persuasion.jsonl";
    auto tune = token_rows(*tok, pub, 96, 33);
    held_out_ = token_rows(*tok, pub, 16, 33, 400);
    rows_ = token_rows(*tok, source_dir() / "data/private/train/clinic_records.jsonl", 4, 33);
    dir_ = fs::temp_directory_path() / ("veil-weight-recovery-" + std::to_string(::getpid()));
    VictimOptions vo;
    victim_ = std::make_unique<VictimModel>(fine_tune_victim(base_dir_, tune, dir_ / "victim", vo));
    base_ = std::make_unique<model::ModelFiles>(model::read_model(base_dir_));
    pub_ = std::make_unique<model::LoadedModel>(model::load_model(base_dir_));
    std::printf("victim: %d steps, loss %.3f -> %.3f on its tuning rows, drift %.4f\n", victim_->steps,
                victim_->train_loss_before, victim_->train_loss_after, victim_->relative_drift);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
    victim_.reset();
    base_.reset();
    pub_.reset();
  }
  void SetUp() override {
    VEIL_REQUIRE_SHARED(shared);
    (void)shared;
    ASSERT_TRUE(victim_);
  }

  static Outcome attack(const std::map<std::string, std::string>& opts, WeightRecoveryOptions wo) {
    train::FinetuneConfig fc;
    fc.model = dir_ / "victim";
    fc.data = source_dir() / "data/private/train/clinic_records.jsonl";
    fc.out = dir_ / "round";
    fc.design = "obfuscatune";
    fc.design_options = opts;
    fc.seq_len = rows_.size(1) - 1;
    fc.batch_size = rows_.size(0);
    auto round = run_attack_round(fc, rows_, fc.out / "audit", {}, base_->config.hidden_size);
    Outcome o;
    o.rec = recover_weights(base_->config, base_->weights.linear, round.observation.weights, wo);
    o.conf = score_model_recovery(base_dir_, o.rec.weights, victim_->linear, held_out_);
    const auto ids = rows_.slice(1, 0, rows_.size(1) - 1);
    for (const auto& k : round.observation.keyed_inputs)
      if (k.layer == 0 && k.projections.front() == static_cast<int>(model::Proj::kQ)) {
        const auto* g = o.rec.group(0, model::Proj::kQ);
        auto x = k.x.matmul(g->input_key.t());
        o.inversion = accuracy(ids, invert_attention_inputs(*pub_->model, x, true).reshape(ids.sizes()));
      }
    std::printf("%-40s rows %.3f cols %.3f | weight err %.4f (base %.4f) update %.3f rows rec %.3f | loss "
                "true %.4f base %.4f rec %.4f (gap closed %.3f) | inversion %.3f | %.2f s\n",
                nlohmann::json(opts).dump().c_str(), o.rec.row_fraction(), o.rec.col_fraction(), o.conf.weight_error,
                o.conf.base_error, o.conf.update_recovered, o.conf.rows_recovered, o.conf.loss_true,
                o.conf.loss_base, o.conf.loss_recovered, o.conf.loss_gap_closed(), o.inversion, o.rec.seconds);
    if (getenv("VEIL_DEBUG_GROUPS"))
      for (const auto& g : o.rec.groups) {
        double er = 0, eb = 0, n = 0;
        for (auto p : g.projs) {
          const auto& t = victim_->linear.at({g.layer, p});
          er += (o.rec.weights.at({g.layer, p}) - t).pow(2).sum().item<double>();
          eb += (base_->weights.linear.at({g.layer, p}) - t).pow(2).sum().item<double>();
          n += t.pow(2).sum().item<double>();
        }
        std::printf("  L%d %-7s rows %lld/%lld cols %lld/%lld snap out %d in %d | err %.4f base %.4f\n", g.layer,
                    std::string(model::proj_module_name(g.projs[0])).c_str(), (long long)g.rows_matched,
                    (long long)g.rows, (long long)g.cols_matched, (long long)g.cols, g.output_snapped, g.input_snapped,
                    std::sqrt(er / n), std::sqrt(eb / n));
      }
    return o;
  }

  static inline fs::path base_dir_, dir_;
  static inline at::Tensor rows_, held_out_;
  static inline std::unique_ptr<VictimModel> victim_;
  static inline std::unique_ptr<model::ModelFiles> base_;
  static inline std::unique_ptr<model::LoadedModel> pub_;
};

// Synthetic: a signed permutation on either side of a weight is found exactly by the Gram
// signatures and direction matching, with no model needed.
TEST(WeightRecoveryUnit, SignedPermutationsAreMatchedExactly) {
  at::manual_seed(3);
  const auto n = 40;
  auto w = at::randn({n, 24}, at::kDouble);
  auto perm = at::randperm(n, at::kLong);
  auto signs = at::where(at::rand({n}, at::kDouble) < 0.5, -at::ones({n}, at::kDouble), at::ones({n}, at::kDouble));
  auto s = at::diag(signs).matmul(at::eye(n, at::kDouble).index_select(0, perm));
  auto ws = s.matmul(w);
  auto m = match_directions(ws, w, 0.99);
  EXPECT_EQ(m.matched, n);
  ASSERT_TRUE(m.signed_permutation.defined());
  EXPECT_LT((m.signed_permutation - s).abs().max().item<double>(), 1e-12);
  auto g = match_gram(ws.matmul(ws.t()), w.matmul(w.t()));
  ASSERT_TRUE(g.defined());
  // The Gram matrix fixes the signs only up to one global sign.
  const double e = std::min((g - s).abs().max().item<double>(), (g + s).abs().max().item<double>());
  EXPECT_LT(e, 1e-12);
  // A dense orthogonal key is no permutation: nothing snaps.
  auto q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
  EXPECT_LT(match_directions(q.matmul(w), w, 0.9).matched, n / 4);
  EXPECT_FALSE(match_gram((q.matmul(w)).matmul((q.matmul(w)).t()), w.matmul(w.t())).defined());
}

TEST(WeightRecoveryUnit, BadInputIsOneClearError) {
  model::ModelConfig cfg;
  cfg.family = model::Family::kLlama;
  cfg.num_layers = 1;
  model::LinearWeights base;
  std::map<std::string, at::Tensor> obf;
  WeightRecoveryOptions o;
  o.variant = "nonsense";
  EXPECT_THROW((void)recover_weights(cfg, base, obf, o), std::invalid_argument);
  o.variant = "paper";
  EXPECT_THROW((void)recover_weights(cfg, base, obf, o), std::invalid_argument);  // no weights at all
  base[{0, model::Proj::kQ}] = at::zeros({4, 4});
  obf["0.q_proj"] = at::zeros({4, 5});
  EXPECT_THROW((void)recover_weights(cfg, base, obf, o), std::invalid_argument);
  EXPECT_THROW((void)match_directions(at::zeros({3, 2}), at::zeros({2, 2}), 0.9), std::invalid_argument);
}

// The paper's scheme keys one side of each product: the fine-tuned weights come back to within a
// fraction of the update, the recovered model scores what the proprietary one does on held-out
// text, and the layer-0 inputs invert.
TEST_F(WeightRecoveryTest, PaperVariantFallsToDirectionMatchingWithARelatedBase) {
  WeightRecoveryOptions wo;
  wo.variant = "paper";
  auto o = attack({{"variant", "paper"}}, wo);
  EXPECT_GE(o.rec.row_fraction(), 0.7);
  EXPECT_GE(o.conf.update_recovered, 0.6);
  EXPECT_LT(o.conf.weight_error, 0.5 * o.conf.base_error);
  EXPECT_GE(o.conf.loss_gap_closed(), 0.8);
  EXPECT_GE(o.inversion, 0.95);
}

// κ > 1 and Gaussian keys are not orthogonal, but in the paper's one-sided layout least squares
// against the related base fits them as well.
TEST_F(WeightRecoveryTest, NonOrthogonalKeysFallToLeastSquaresInThePaperVariant) {
  WeightRecoveryOptions wo;
  wo.variant = "paper";
  wo.orthogonal = false;
  for (auto opts : {std::map<std::string, std::string>{{"variant", "paper"}, {"matrix", "gaussian"}},
                    std::map<std::string, std::string>{{"variant", "paper"}, {"kappa", "10"}}}) {
    auto o = attack(opts, wo);
    EXPECT_GE(o.conf.update_recovered, 0.4) << nlohmann::json(opts).dump();
    EXPECT_GE(o.conf.loss_gap_closed(), 0.8) << nlohmann::json(opts).dump();
    EXPECT_GE(o.inversion, 0.95) << nlohmann::json(opts).dump();
  }
}

// The default (matched): the MLP width's permutation and signs fall to the Gram signatures on
// down's input and, through that link, on gate/up's output — every layer's MLP comes back; the
// attention's dense two-sided keys do not (the attacker keeps the base there); the inputs invert.
TEST_F(WeightRecoveryTest, MatchedVariantLosesItsMlpWeightsToPermutationMatching) {
  WeightRecoveryOptions wo;
  wo.variant = "matched";
  auto o = attack({}, wo);
  const auto bp = model::block_projections(base_->config.family);
  for (int l = 0; l < base_->config.num_layers; ++l) {
    const auto* down = o.rec.group(l, bp.mlp_out[0]);
    const auto* gu = o.rec.group(l, bp.mlp_in[0]);
    ASSERT_TRUE(down && gu);
    EXPECT_TRUE(down->input_snapped) << "layer " << l;
    EXPECT_TRUE(gu->output_snapped) << "layer " << l;
    EXPECT_EQ(gu->rows_matched, gu->rows) << "layer " << l;
    EXPECT_TRUE(o.rec.group(l, bp.attn_in[0])->fell_back) << "layer " << l;
  }
  EXPECT_GE(o.conf.rows_recovered, 0.5);
  EXPECT_GE(o.conf.loss_gap_closed(), 0.3);
  EXPECT_GE(o.inversion, 0.95);
}

// `full` keys both sides of every product with dense keys: the weights stay hidden (nothing better
// than the public base), but layer 0's input key still falls to the group's Gram eigenvectors
// against the related base, and the data with it.
TEST_F(WeightRecoveryTest, FullVariantKeepsTheWeightsButNotTheData) {
  WeightRecoveryOptions wo;
  wo.variant = "full";
  auto o = attack({{"variant", "full"}}, wo);
  EXPECT_LT(o.rec.row_fraction(), 0.05);
  EXPECT_LT(o.conf.rows_recovered, 0.05);
  EXPECT_LT(std::abs(o.conf.loss_gap_closed()), 0.05);
  EXPECT_GE(o.inversion, 0.9);
}

// "Hidden No More" on matched's MLP activation (act·P·D at down's input, layer 0): each row's
// sorted |values| decodes a fifth of the tokens left to right through the model with the recovered
// MLP weights (12% through the public base, measured); with down's input key from weight recovery
// the rows un-key exactly and every token comes back, and the decoded tokens give the permutation.
// With mlp=full the MLP width is under a dense key and the same attack finds nothing.
TEST_F(WeightRecoveryTest, MatchedMlpValuesInvertUpToPermutation) {
  const auto ids = rows_.slice(1, 0, rows_.size(1) - 1);
  for (std::string mlp : {"permuted", "full"}) {
    train::FinetuneConfig fc;
    fc.model = dir_ / "victim";
    fc.data = source_dir() / "data/private/train/clinic_records.jsonl";
    fc.out = dir_ / "round-perm";
    fc.design = "obfuscatune";
    fc.design_options = {{"mlp", mlp}};
    fc.seq_len = rows_.size(1) - 1;
    fc.batch_size = rows_.size(0);
    auto round = run_attack_round(fc, rows_, fc.out / "audit", {}, base_->config.hidden_size);
    WeightRecoveryOptions wo;
    auto rec = recover_weights(base_->config, base_->weights.linear, round.observation.weights, wo);
    auto stolen = model_with_linear(base_dir_, rec.weights);
    const KeyedInput* act = nullptr;
    for (const auto& k : round.observation.keyed_inputs)
      if (k.layer == 0 && k.projections.front() == static_cast<int>(model::Proj::kDown)) act = &k;
    ASSERT_NE(act, nullptr);
    const auto* down = rec.group(0, model::Proj::kDown);
    ASSERT_NE(down, nullptr);
    auto r = invert_permuted_mlp(*stolen.model, act->x, ids.size(0), 0, 64);
    const double sorted = accuracy(ids, r.ids);
    if (mlp == "full") {
      std::printf("mlp=full: sorted magnitudes %.3f, down's input key snapped: %d\n", sorted, down->input_snapped);
      EXPECT_FALSE(down->input_snapped);
      EXPECT_LT(sorted, 0.1);
      continue;
    }
    ASSERT_TRUE(down->input_snapped);
    auto rk = invert_permuted_mlp(*stolen.model, act->x, ids.size(0), 0, 16, 0.9, down->input_key);
    const double with_key = accuracy(ids, rk.ids);
    std::printf("mlp=permuted: sorted magnitudes %.3f (recovered model); with down's recovered key %.3f, "
                "columns matched %lld / %lld\n",
                sorted, with_key, static_cast<long long>(rk.columns_matched),
                static_cast<long long>(rk.columns));
    EXPECT_GE(sorted, 0.1);  // chance: 1/512
    EXPECT_GE(with_key, 0.95);
    EXPECT_GE(rk.columns_matched, rk.columns * 9 / 10);
  }
}

}  // namespace
}  // namespace veil::eval
