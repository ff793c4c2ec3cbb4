// `offsite`: the emulator keeps the adapter blocks as they are, and adapters trained on it,
// plugged into the full model, give the full model's outputs on those blocks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "support/shared_assets.h"
#include "veil/designs/guarded/offsite.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"

namespace veil {
namespace {
using namespace guarded_test;
using namespace designs::guarded;

TEST(Offsite, PlanKeepsEndsAndSpreadsTheMiddle) {
  auto p = plan_emulator(12, 2, 2, 3);
  EXPECT_EQ(p.layers, (std::vector<int>{0, 1, 2, 6, 9, 10, 11}));
  EXPECT_TRUE(p.is_adapter_layer(1));
  EXPECT_FALSE(p.is_adapter_layer(2));
  EXPECT_TRUE(p.is_adapter_layer(5));
  EXPECT_EQ(OffsitePlan::from_json(p.to_json()).layers, p.layers);
  EXPECT_THROW((void)plan_emulator(6, 1, 1, 5), std::invalid_argument);
  EXPECT_THROW((void)plan_emulator(6, 0, 1, 2), std::invalid_argument);
  auto bad = p.to_json();
  bad["layers"][0] = 3;
  EXPECT_THROW((void)OffsitePlan::from_json(bad), std::invalid_argument);
}

TEST(Offsite, PluggedAdaptersReproduceTheEmulatorBlocksInTheFullModel) {
  auto dir = testing::scratch_dir();
  auto plan = plan_emulator(6, 1, 1, 2);  // emulator layers {0, 1, 4, 5}
  write_emulator(tiny_model(), plan, dir / "emu");
  auto emu = model::load_model(dir / "emu");
  ASSERT_EQ(emu.model->config().num_layers, 4);
  EXPECT_EQ(OffsitePlan::read(dir / "emu").layers, plan.layers);

  // Adapters on the emulator's adapter blocks with non-zero B (as after training).
  model::LoraConfig lc;
  lc.r = 4;
  auto lora = std::make_shared<model::LoraAdapters>(emu.model->config(), lc, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  for (auto it = lora->pairs().begin(); it != lora->pairs().end();)
    it = plan.is_adapter_layer(it->first.layer) ? std::next(it) : lora->pairs().erase(it);
  {
    at::NoGradGuard g;
    for (auto& [site, p] : lora->pairs()) p.b.copy_(at::randn(p.b.sizes(), gen) * 0.05);
  }
  emu.model->set_lora(lora);

  // Through PEFT files, as `veil offsite plug` does.
  lora::save_peft_adapter(dir / "adapter", emu.model->config(), *lora);
  auto full = model::load_model(tiny_model());
  auto plugged = plug_adapter(*lora::load_peft_adapter(dir / "adapter", emu.model->config()), full.model->config(), plan);
  for (const auto& [site, p] : plugged->pairs()) EXPECT_TRUE(site.layer == 0 || site.layer == 5) << site.layer;
  full.model->set_lora(plugged);

  at::NoGradGuard g;
  auto ids = at::randint(3, 1000, {2, 16}, gen, at::kLong);
  auto h0 = emu.model->embed(ids, 0);
  // Bottom block: same input, same output.
  EXPECT_TRUE(at::allclose(emu.model->block(0, h0, nullptr, 0), full.model->block(0, h0, nullptr, 0), 1e-5, 1e-6));
  // Top block and head: the same hidden state in gives the same logits out.
  auto h = at::randn({2, 16, 192}, gen);
  auto top_emu = emu.model->lm_head(emu.model->final_norm(emu.model->block(3, h, nullptr, 0)));
  auto top_full = full.model->lm_head(full.model->final_norm(full.model->block(5, h, nullptr, 0)));
  EXPECT_TRUE(at::allclose(top_emu, top_full, 1e-4, 1e-5));
  // The emulated middle is what differs (the model owner's protection).
  EXPECT_FALSE(at::allclose(emu.model->forward(ids), full.model->forward(ids), 1e-3, 1e-3));

  // An adapter on an emulated middle block cannot be plugged.
  auto wrong = std::make_shared<model::LoraAdapters>(emu.model->config(), lc, 5);
  EXPECT_THROW((void)plug_adapter(*wrong, full.model->config(), plan), std::invalid_argument);
}

TEST(Offsite, FinetuneOnTheInMemoryEmulatorReportsTheGap) {
  auto dir = testing::scratch_dir();
  auto cfg = base_config({{"k", "1"}, {"m", "1"}, {"keep", "2"}});
  cfg.design = "offsite";
  cfg.data = std::filesystem::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  cfg.out = dir;
  cfg.seq_len = 32;
  cfg.batch_size = 2;
  cfg.max_steps = 2;
  cfg.max_examples = 40;
  cfg.progress = false;
  designs::register_builtin_designs();
  auto r = train::run_finetune(cfg);
  auto rep = r.summary.at("design_report");
  EXPECT_EQ(rep.at("emulator_layers").get<int>(), 4);
  EXPECT_TRUE(rep.contains("plugged_full_model_val_loss"));
  EXPECT_TRUE(std::filesystem::exists(dir / kOffsitePlanFile));
  auto bad = cfg;
  bad.design_options = {{"distill", "1"}};  // unknown option
  bad.out = dir / "bad";
  EXPECT_THROW((void)train::run_finetune(bad), std::invalid_argument);
}

}  // namespace
}  // namespace veil
