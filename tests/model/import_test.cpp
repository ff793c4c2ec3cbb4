// Importing a family's HF tensors checks finiteness in chunks; a bad value anywhere is named.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

#include "veil/model/config.h"
#include "veil/model/family.h"
#include "veil/model/loader.h"

namespace veil::model {
namespace {

ModelConfig wide_llama() {
  ModelConfig c;
  c.family = Family::kLlama;
  c.vocab_size = 40000;  // the embedding spans 2.5 chunks of 4M elements
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_layers = 1;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = true;
  return c;
}

TEST(ImportWeights, NonFiniteValueInALaterChunkIsNamed) {
  const auto cfg = wide_llama();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
    auto hf = random_hf_weights(cfg, 1);
    auto& emb = hf.at("model.embed_tokens.weight");
    emb[39999][255] = bad;  // the last element: the third chunk
    try {
      (void)family_traits(cfg.family).import_weights(cfg, std::move(hf));
      ADD_FAILURE() << "a non-finite embedding was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("NaN or infinite"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW((void)family_traits(cfg.family).import_weights(cfg, random_hf_weights(cfg, 1)));
}

}  // namespace
}  // namespace veil::model
