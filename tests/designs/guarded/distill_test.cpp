// Distillation of an offsite emulator on public text: only the kept middle blocks change, the
// full model is untouched, and the emulator's middle comes closer to the full middle.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "veil/designs/guarded/distill.h"
#include "veil/model/loader.h"

namespace veil {
namespace {
using namespace guarded_test;
using namespace designs::guarded;

DistillOptions public_text(int steps, const std::string& target = "hidden") {
  DistillOptions o;
  o.data = std::filesystem::path(VEIL_SOURCE_DIR) / "data/public/persuasion.jsonl";
  o.tokenizer = tiny_model();
  o.steps = steps;
  o.lr = 2e-3;
  o.seq_len = 32;
  o.batch_size = 2;
  o.seed = 1;
  o.target = target;
  return o;
}

TEST(Distill, TrainsOnlyTheKeptMiddleAndLeavesTheFullModelAlone) {
  auto full = model::read_model(tiny_model());
  std::map<model::LinearSite, at::Tensor> before;
  for (const auto& [site, w] : full.weights.linear) before[site] = w.clone();
  auto plan = plan_emulator(6, 1, 1, 1);  // emulator layers {0, 3, 5}: one middle block for four
  auto emu = make_emulator(full, plan);
  auto r = distill_emulator(full, emu, plan, public_text(12));
  EXPECT_EQ(r.steps, 12);
  EXPECT_LT(r.last_loss, r.first_loss) << "the middle did not come closer to the full middle";
  for (const auto& [site, w] : full.weights.linear) EXPECT_TRUE(at::equal(w, before.at(site))) << site.layer;
  for (const auto& [site, w] : emu.weights.linear) {
    const bool middle = site.layer == 1;
    const int src = site.proj == model::Proj::kLmHead ? 6 : plan.layers[site.layer];
    EXPECT_EQ(at::equal(w, before.at({src, site.proj})), !middle) << "emulator layer " << site.layer;
    EXPECT_FALSE(w.requires_grad());
  }
  EXPECT_FALSE(emu.weights.params.blocks[1].norm1_w.requires_grad());
  EXPECT_FALSE(at::equal(emu.weights.params.blocks[1].norm1_w, full.weights.params.blocks[3].norm1_w));
}

TEST(Distill, LogitsTargetAndBadOptions) {
  auto full = model::read_model(tiny_model());
  auto plan = plan_emulator(6, 1, 1, 2);
  auto emu = make_emulator(full, plan);
  auto middle = emu.weights.linear.at({1, model::Proj::kDown}).clone();
  auto r = distill_emulator(full, emu, plan, public_text(4, "logits"));
  EXPECT_EQ(r.steps, 4);
  EXPECT_TRUE(std::isfinite(r.last_loss) && r.last_loss >= 0);  // a KL divergence
  EXPECT_FALSE(at::equal(middle, emu.weights.linear.at({1, model::Proj::kDown})));
  auto bad = public_text(2, "kl");
  EXPECT_THROW((void)distill_emulator(full, emu, plan, bad), std::invalid_argument);
  bad = public_text(2);
  bad.data = "/nonexistent/public.txt";
  EXPECT_THROW((void)distill_emulator(full, emu, plan, bad), std::invalid_argument);
  EXPECT_EQ(distill_emulator(full, emu, plan, public_text(0)).steps, 0);
}

}  // namespace
}  // namespace veil
