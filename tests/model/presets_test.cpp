// Size presets: each is the published model's shape (parameter counts from the models' cards,
// and from a formula written here independently of ModelConfig::num_parameters), and unknown
// names are refused with the list of known ones.
#include "veil/model/presets.h"

#include <gtest/gtest.h>

#include <cstdint>

#include <nlohmann/json.hpp>

namespace veil::model {
namespace {

// Counts parameters tensor by tensor as the HF modules hold them (tied head counted once).
std::int64_t count_parameters(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, v = c.vocab_size, f = c.intermediate_size;
  std::int64_t n = v * h;  // token embedding
  if (c.family == Family::kGpt2) {
    n += c.max_position_embeddings * h;                // wpe
    const std::int64_t ln = 2 * h;                     // weight + bias
    const std::int64_t attn = h * 3 * h + 3 * h + h * h + h;  // c_attn, c_proj
    const std::int64_t mlp = h * f + f + f * h + h;         // c_fc, c_proj
    n += c.num_layers * (2 * ln + attn + mlp) + ln;    // blocks + ln_f
  } else {
    const std::int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    const std::int64_t attn = h * q + 2 * h * kv + q * h;
    const std::int64_t mlp = 3 * h * f;
    n += c.num_layers * (attn + mlp + 2 * h) + h;  // blocks (two RMSNorms) + final norm
  }
  if (!c.tie_word_embeddings) n += v * h;
  return n;
}

TEST(Presets, ParameterCountsAreThePublishedModels) {
  // openai-community/gpt2*, meta-llama/Llama-3.2-*: the counts of their safetensors files.
  const std::pair<const char*, std::int64_t> known[] = {{"gpt2-small", 124'439'808},    {"gpt2-medium", 354'823'168},
                                                        {"gpt2-xl", 1'557'611'200},     {"llama-3.2-1b", 1'235'814'400},
                                                        {"llama-3.2-3b", 3'212'749'824}};
  for (const auto& [name, params] : known) {
    const ModelConfig c = preset(name);
    EXPECT_NO_THROW(c.validate()) << name;
    EXPECT_EQ(count_parameters(c), params) << name;
    EXPECT_EQ(c.num_parameters(), params) << name;
  }
}

TEST(Presets, TinyPresetsAreAFewMegabytesWithTheRealVocabularies) {
  for (const char* name : {"tiny-llama", "tiny-gpt2"}) {
    const ModelConfig c = preset(name);
    EXPECT_NO_THROW(c.validate()) << name;
    EXPECT_EQ(c.num_parameters(), count_parameters(c)) << name;
    EXPECT_LT(c.num_parameters() * 2, 10'000'000) << name << ": more than 10 MB in bf16";
  }
  EXPECT_EQ(tiny_llama().vocab_size, 128256);
  EXPECT_EQ(tiny_gpt2().vocab_size, 50257);
}

TEST(Presets, LlamaPresetsCarryTheHubConfig) {
  const ModelConfig c = llama3_2_1b();
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->type, "llama3");
  EXPECT_EQ(c.rope_scaling->factor, 32.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{128001});
  EXPECT_EQ(c.max_position_embeddings, 131072);
  // Round trip through config.json.
  const ModelConfig back = ModelConfig::from_json(c.to_json());
  EXPECT_EQ(back.num_parameters(), c.num_parameters());
  EXPECT_EQ(back.rope_scaling->factor, 32.0);
}

TEST(Presets, NamesAndFunctionsAgree) {
  EXPECT_EQ(preset("gpt2-small").num_parameters(), gpt2_small().num_parameters());
  EXPECT_EQ(preset("llama-3.2-1b").num_parameters(), llama3_2_1b().num_parameters());
  const auto names = preset_names();
  EXPECT_EQ(names.size(), 7u);
  for (const auto& n : names) EXPECT_NO_THROW((void)preset(n)) << n;
}

TEST(Presets, UnknownNameIsRefusedListingTheKnownOnes) {
  try {
    (void)preset("llama-3.2-8b");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'llama-3.2-8b'"), std::string::npos) << m;
    for (const auto& n : preset_names()) EXPECT_NE(m.find(n), std::string::npos) << m;
  }
  EXPECT_THROW((void)preset(""), std::invalid_argument);
  EXPECT_THROW((void)preset("GPT2-SMALL"), std::invalid_argument);
}

}  // namespace
}  // namespace veil::model
