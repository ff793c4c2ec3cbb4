// The family registry and the key maps (src/model/family.cpp, key_map.cpp, gpt2.cpp, llama.cpp):
// each family's key map round-trips the committed tiny checkpoints (import -> export -> import),
// and a family nobody registered is refused by name instead of becoming another family.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "veil/checkpoint/weights.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"
#include "veil/model/presets.h"

namespace veil::model {
namespace {

void expect_same(const ImportedWeights& a, const ImportedWeights& b) {
  auto pa = a.params.all(), pb = b.params.all();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << "parameter " << i;
  ASSERT_EQ(a.linear.size(), b.linear.size());
  for (const auto& [site, w] : a.linear) {
    ASSERT_TRUE(b.linear.count(site)) << site.layer << "." << proj_module_name(site.proj);
    EXPECT_TRUE(at::equal(w, b.linear.at(site))) << site.layer << "." << proj_module_name(site.proj);
  }
}

class KeyMapRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(KeyMapRoundTrip, ImportExportImportKeepsEveryTensor) {
  const auto dir = testing::fixture_dir(GetParam());
  const auto cfg = ModelConfig::from_file(dir / "config.json");
  const auto& traits = family_traits(cfg.family);
  const TensorMap stored = checkpoint::load_weights(dir);
  const auto first = traits.import_weights(cfg, stored);
  const TensorMap exported = traits.export_weights(cfg, first.params, first.linear);
  // Export writes the stored values back under the family's full names (GPT2Model saves lack the
  // optional "transformer." prefix); only ignored buffers and a stored copy of a tied head are dropped.
  const std::string prefix = traits.keys.optional_prefix;
  std::set<std::string> matched;
  for (const auto& [name, t] : exported) {
    std::string key = name;
    if (!stored.count(key) && !prefix.empty() && key.rfind(prefix, 0) == 0) key = key.substr(prefix.size());
    ASSERT_TRUE(stored.count(key)) << "export invented '" << name << "'";
    EXPECT_TRUE(at::equal(t.to(at::kFloat), stored.at(key).to(at::kFloat))) << name;
    matched.insert(key);
  }
  std::set<std::string> droppable;
  for (int l = 0; l < cfg.num_layers; ++l)
    for (const char* k : traits.keys.ignored) {
      droppable.insert(expand_key(k, l));
      if (!prefix.empty()) droppable.insert(expand_key(k, l).substr(prefix.size()));
    }
  if (cfg.tie_word_embeddings) droppable.insert(kLmHeadKey);
  for (const auto& [name, t] : stored)
    if (!matched.count(name)) EXPECT_TRUE(droppable.count(name)) << "export lost '" << name << "'";
  expect_same(first, traits.import_weights(cfg, exported));
}

INSTANTIATE_TEST_SUITE_P(Families, KeyMapRoundTrip, ::testing::Values("tiny-gpt2", "tiny-llama3"));

TEST(KeyMap, Gpt2CheckpointsWithoutTheTransformerPrefixImportUnderIt) {
  const auto dir = testing::fixture_dir("tiny-gpt2-prefixed");
  const auto cfg = ModelConfig::from_file(dir / "config.json");
  const auto w = family_traits(cfg.family).import_weights(cfg, checkpoint::load_weights(dir));
  for (const auto& [name, t] : family_traits(cfg.family).export_weights(cfg, w.params, w.linear))
    EXPECT_TRUE(name.rfind("transformer.", 0) == 0 || name == kLmHeadKey) << name;
}

TEST(KeyMap, KeysAreDataWithTheLayerFilledIn) {
  EXPECT_EQ(expand_key("model.layers.{}.self_attn.q_proj", 12), "model.layers.12.self_attn.q_proj");
  EXPECT_EQ(proj_module_path(Family::kLlama, 3, Proj::kQ), "model.layers.3.self_attn.q_proj");
  EXPECT_EQ(proj_module_path(Family::kLlama, 0, Proj::kDown), "model.layers.0.mlp.down_proj");
  EXPECT_EQ(proj_module_path(Family::kGpt2, 3, Proj::kMlpCProj), "transformer.h.3.mlp.c_proj");
  EXPECT_EQ(proj_module_path(Family::kGpt2, 1, Proj::kAttnCProj), "transformer.h.1.attn.c_proj");
  EXPECT_EQ(proj_module_path(Family::kGpt2, 1, Proj::kLmHead), "lm_head");
  EXPECT_STREQ(param_key(family_traits(Family::kGpt2), ParamSlot::kTokEmb), "transformer.wte.weight");
  EXPECT_STREQ(param_key(family_traits(Family::kLlama), ParamSlot::kTokEmb), "model.embed_tokens.weight");
  // A projection of another family is no module of this one.
  EXPECT_THROW((void)proj_module_path(Family::kLlama, 0, Proj::kCAttn), std::invalid_argument);
  EXPECT_THROW((void)param_key(family_traits(Family::kLlama), ParamSlot::kPosEmb), std::invalid_argument);
}

TEST(FamilyTraits, StateTheFamilysStructure) {
  const auto& gpt2 = family_traits(Family::kGpt2);
  const auto& llama = family_traits(Family::kLlama);
  EXPECT_EQ(gpt2.positions, Positions::kLearned);
  EXPECT_EQ(llama.positions, Positions::kRope);
  EXPECT_EQ(gpt2.norm, Norm::kLayerNorm);
  EXPECT_EQ(llama.norm, Norm::kRms);
  EXPECT_TRUE(gpt2.keys.transposed);
  EXPECT_FALSE(llama.keys.transposed);
  EXPECT_EQ(llama.blocks.attn_in.size(), 3u);
  EXPECT_EQ(llama.blocks.mlp_in.size(), 2u);
  EXPECT_EQ(gpt2.blocks.attn_in.size(), 1u);
  for (const FamilyTraits* f : families()) {
    EXPECT_EQ(&family_traits(f->family), f);
    EXPECT_EQ(&family_by_name(f->name), f);
    EXPECT_EQ(&family_by_name("", f->architecture), f);
    EXPECT_STREQ(family_name(f->family), f->name);
    // The block groups hold exactly the key map's projections, in its order.
    std::vector<Proj> grouped;
    for (auto g : {f->blocks.attn_in, f->blocks.attn_out, f->blocks.mlp_in, f->blocks.mlp_out})
      grouped.insert(grouped.end(), g.begin(), g.end());
    ASSERT_EQ(grouped.size(), f->keys.projections.size()) << f->name;
    for (std::size_t i = 0; i < grouped.size(); ++i) EXPECT_EQ(grouped[i], f->keys.projections[i].proj) << f->name;
  }
}

TEST(FamilyTraits, ConfigJsonRoundTripsThroughTheTraits) {
  for (const auto& c : {tiny_gpt2(), tiny_llama(), llama3_2_1b()}) {
    const auto back = ModelConfig::from_json(c.to_json());
    EXPECT_EQ(back.family, c.family);
    EXPECT_EQ(back.to_json(), c.to_json());
  }
}

TEST(FamilyTraits, ParameterCountsComeFromTheKeyMap) {
  EXPECT_EQ(gpt2_small().num_parameters(), 124439808);     // openai-community/gpt2
  EXPECT_EQ(llama3_2_1b().num_parameters(), 1235814400);   // meta-llama/Llama-3.2-1B
  for (const auto& c : {tiny_gpt2(), tiny_llama()}) {
    std::int64_t n = 0;
    for (const auto& [name, t] : random_hf_weights(c, 1)) n += t.numel();
    EXPECT_EQ(c.num_parameters(), n) << family_name(c.family);
  }
}

// Before the registry, family_traits was a ternary: any family that was not GPT-2 became Llama.
TEST(FamilyRegistry, UnknownFamilyIsRefusedNamingTheKnownOnes) {
  const auto unknown = static_cast<Family>(7);
  try {
    (void)family_traits(unknown);
    ADD_FAILURE() << "an unregistered family was given traits";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unknown model family"), std::string::npos) << what;
    EXPECT_NE(what.find("gpt2"), std::string::npos) << what;
    EXPECT_NE(what.find("llama"), std::string::npos) << what;
  }
  EXPECT_THROW((void)family_name(unknown), std::invalid_argument);
  EXPECT_THROW((void)block_projections(unknown), std::invalid_argument);
  ModelConfig c = tiny_llama();
  c.family = unknown;
  EXPECT_THROW(c.validate(), std::invalid_argument);
  EXPECT_THROW((void)random_hf_weights(c, 1), std::invalid_argument);
  EXPECT_THROW((void)family_by_name("mamba"), std::invalid_argument);
  try {
    (void)ModelConfig::from_json(nlohmann::json{{"model_type", "mamba"}});
    ADD_FAILURE() << "model_type mamba was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unsupported model_type 'mamba'"), std::string::npos) << what;
    EXPECT_NE(what.find("gpt2 = GPT2LMHeadModel"), std::string::npos) << what;
    EXPECT_NE(what.find("llama = LlamaForCausalLM"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace veil::model
