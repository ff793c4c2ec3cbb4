// `veil init` and init_checkpoint: a preset checkpoint round-trips through `veil info` with the
// preset's parameter count, shards come with a valid index and load, the same seed gives the same
// bytes, every dtype loads, the random init has the family's statistics, and bad input is one
// clear error.
#include "veil/model/init_checkpoint.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/shared_assets.h"
#include "veil/checkpoint/checkpoint_reader.h"
#include "veil/checkpoint/weights.h"
#include "veil/model/loader.h"
#include "veil/model/presets.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/util/file_io.h"

namespace veil::model {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Child;

struct CliRun {
  int status = -1;
  std::string out, err;
};

CliRun run_veil(std::vector<std::string> args, const fs::path& log) {
  args.insert(args.begin(), testing::veil_binary().string());
  Child c(args, log);
  CliRun r;
  r.status = c.wait(120s).value_or(-1);
  r.out = c.out();
  r.err = c.err();
  return r;
}

std::int64_t expected_parameters(const ModelConfig& c) {
  // Independently of num_parameters: the layout's element counts (names from the export map).
  std::int64_t n = 0;
  for (const auto& s : checkpoint_layout(c, checkpoint::DType::F32)) {
    std::int64_t e = 1;
    for (auto d : s.shape) e *= d;
    n += e;
  }
  return n;
}

TEST(InitCheckpoint, PresetsRoundTripThroughVeilInfo) {
  VEIL_REQUIRE_SHARED(assets);
  const fs::path dir = testing::scratch_dir();
  for (const char* preset_name : {"tiny-llama", "tiny-gpt2"}) {
    const fs::path out = dir / preset_name;
    const CliRun init = run_veil({"init", "--preset", preset_name, "--out", out.string(), "--seed", "7"}, dir / "init");
    ASSERT_EQ(init.status, 0) << init.err;
    EXPECT_TRUE(fs::is_regular_file(out / "model.safetensors"));
    const CliRun info = run_veil({"info", "--json", out.string()}, dir / "info");
    ASSERT_EQ(info.status, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    const ModelConfig c = preset(preset_name);
    // Llama: 128256 x 32 embedding + 2 x (4 attention + 3 mlp matrices + 2 norms) + final norm.
    if (c.family == Family::kLlama)
      EXPECT_EQ(j.at("parameters").get<std::int64_t>(), 128256 * 32 + 2 * (32 * 32 * 2 + 2 * 32 * 16 + 3 * 32 * 96 + 64) + 32);
    EXPECT_EQ(j.at("parameters").get<std::int64_t>(), expected_parameters(c)) << preset_name;
    EXPECT_EQ(j.at("tokenizer_vocab_size").get<std::int64_t>(), c.family == Family::kLlama ? 128256 : 50257);
    const auto cfg = nlohmann::json::parse(util::read_file(out / "config.json"));
    EXPECT_EQ(cfg.at("torch_dtype"), "bfloat16");
    EXPECT_EQ(cfg.at("tie_word_embeddings"), true);
    const auto gen = nlohmann::json::parse(util::read_file(out / "generation_config.json"));
    EXPECT_EQ(gen.at("bos_token_id").get<std::int64_t>(), *c.bos_token_id);
    if (c.family == Family::kLlama) {
      EXPECT_EQ(cfg.at("rope_scaling").at("rope_type"), "llama3");
      EXPECT_EQ(cfg.at("rope_scaling").at("factor"), 32.0);
      EXPECT_EQ(cfg.at("bos_token_id"), 128000);
      EXPECT_EQ(cfg.at("eos_token_id"), 128001);
    }
    // And it is a model: the loader takes it and it runs.
    auto m = load_model(out);
    auto logits = m.model->forward(at::tensor({1, 2, 3}, at::kLong).unsqueeze(0));
    EXPECT_EQ(logits.size(-1), c.vocab_size);
    EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  }
  fs::remove_all(dir);
}

TEST(InitCheckpoint, ShardsHaveAValidIndexAndLoadLikeOneFile) {
  VEIL_REQUIRE_SHARED(assets);
  const fs::path dir = testing::scratch_dir();
  const CliRun one = run_veil({"init", "--preset", "tiny-llama", "--out", (dir / "one").string()}, dir / "one");
  ASSERT_EQ(one.status, 0) << one.err;
  const CliRun sharded = run_veil({"init", "--preset", "tiny-llama", "--out", (dir / "sharded").string(), "--max-shard-mb", "1"},
                           dir / "sharded");
  ASSERT_EQ(sharded.status, 0) << sharded.err;
  EXPECT_FALSE(fs::exists(dir / "sharded" / "model.safetensors"));
  const auto index = nlohmann::json::parse(util::read_file(dir / "sharded" / "model.safetensors.index.json"));
  std::set<std::string> shard_files;
  for (const auto& [name, file] : index.at("weight_map").items()) shard_files.insert(file.get<std::string>());
  EXPECT_GE(shard_files.size(), 2u);
  for (const auto& f : shard_files) {
    EXPECT_TRUE(fs::is_regular_file(dir / "sharded" / f)) << f;
    EXPECT_NE(f.find("-of-"), std::string::npos) << f;
  }
  const checkpoint::CheckpointReader reader(dir / "sharded");
  EXPECT_EQ(reader.num_files(), shard_files.size());
  EXPECT_EQ(index.at("metadata").at("total_size").get<std::uint64_t>(), reader.data_bytes());
  const auto a = checkpoint::load_weights(dir / "one"), b = checkpoint::load_weights(dir / "sharded");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::equal(t, b.at(name))) << name;
  EXPECT_EQ(read_model(dir / "sharded").config.num_parameters(), tiny_llama().num_parameters());
  fs::remove_all(dir);
}

TEST(InitCheckpoint, SameSeedSameBytesOtherSeedOtherBytes) {
  VEIL_REQUIRE_SHARED(assets);
  const fs::path dir = testing::scratch_dir();
  InitOptions o;
  o.tokenizer = assets / "tokenizers" / "gpt2";
  o.weights.seed = 11;
  (void)init_checkpoint(dir / "a", tiny_gpt2(), o);
  (void)init_checkpoint(dir / "b", tiny_gpt2(), o);
  o.weights.seed = 12;
  (void)init_checkpoint(dir / "c", tiny_gpt2(), o);
  const auto a = util::read_file(dir / "a" / "model.safetensors");
  EXPECT_EQ(a, util::read_file(dir / "b" / "model.safetensors"));
  EXPECT_NE(a, util::read_file(dir / "c" / "model.safetensors"));
  EXPECT_EQ(util::read_file(dir / "a" / "config.json"), util::read_file(dir / "c" / "config.json"));
  // Sharding does not change a tensor's bytes (each tensor draws from its own generator).
  o.weights.seed = 11;
  o.weights.max_shard_bytes = 1 << 20;
  (void)init_checkpoint(dir / "d", tiny_gpt2(), o);
  const auto x = checkpoint::load_weights(dir / "a"), y = checkpoint::load_weights(dir / "d");
  for (const auto& [name, t] : x) EXPECT_TRUE(at::equal(t, y.at(name))) << name;
  fs::remove_all(dir);
}

TEST(InitCheckpoint, EveryDtypeLoadsWithTheFamilysInitStatistics) {
  VEIL_REQUIRE_SHARED(assets);
  const fs::path dir = testing::scratch_dir();
  std::map<std::string, checkpoint::TensorMap> by_dtype;
  for (auto [name, dt] : {std::pair{"F32", checkpoint::DType::F32}, std::pair{"F16", checkpoint::DType::F16},
                          std::pair{"BF16", checkpoint::DType::BF16}}) {
    InitOptions o;
    o.tokenizer = assets / "tokenizers" / "gpt2";
    o.weights.dtype = dt;
    const auto info = init_checkpoint(dir / name, tiny_gpt2(), o);
    EXPECT_EQ(info.parameters, tiny_gpt2().num_parameters());
    const checkpoint::CheckpointReader reader(dir / name);
    EXPECT_EQ(checkpoint::dtype_name(reader.record("transformer.wte.weight").dtype), name);
    EXPECT_NO_THROW((void)read_model(dir / name)) << name;
    by_dtype[name] = checkpoint::load_weights(dir / name);
  }
  const auto& f32 = by_dtype["F32"];
  for (const char* name : {"F16", "BF16"})
    for (const auto& [t, v] : f32)
      EXPECT_LT((v - by_dtype[name].at(t)).abs().max().item<double>(), 1e-3) << name << " " << t;
  // HF GPT-2 init: normal(0, 0.02), c_proj normal(0, 0.02 / sqrt(2 * layers)), LayerNorm 1 / 0.
  const double wte_std = f32.at("transformer.wte.weight").std().item<double>();
  EXPECT_NEAR(wte_std, 0.02, 0.0005);
  EXPECT_NEAR(f32.at("transformer.h.0.mlp.c_proj.weight").std().item<double>(), 0.02 / std::sqrt(4.0), 0.001);
  EXPECT_TRUE(at::equal(f32.at("transformer.h.1.ln_1.weight"), at::ones({32})));
  EXPECT_TRUE(at::equal(f32.at("transformer.h.1.attn.c_attn.bias"), at::zeros({96})));
  EXPECT_FALSE(f32.count("lm_head.weight")) << "a tied head is not stored";
  fs::remove_all(dir);
}

TEST(InitCheckpoint, BadInputIsOneClearError) {
  const fs::path dir = testing::scratch_dir();
  auto expect_error = [&](std::vector<std::string> args, const std::string& says) {
    const CliRun r = run_veil(args, dir / "bad");
    EXPECT_NE(r.status, 0) << says;
    EXPECT_NE(r.err.find(says), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
    return r.err;
  };
  const std::string unknown =
      expect_error({"init", "--preset", "llama-9b", "--out", (dir / "x").string()}, "unknown model preset 'llama-9b'");
  EXPECT_NE(unknown.find("tiny-gpt2"), std::string::npos) << "the known presets are listed: " << unknown;
  expect_error({"init", "--preset", "tiny-gpt2", "--out", (dir / "x").string(), "--dtype", "f8"},
               "--dtype 'f8': expected bf16, f16 or f32");
  expect_error({"init", "--preset", "tiny-gpt2", "--out", (dir / "x").string(), "--layers", "2000"}, "--layers 2000");
  expect_error({"init", "--preset", "tiny-gpt2", "--out", (dir / "x").string(), "--tokenizer", (dir / "nope").string()},
               "--tokenizer");
  util::write_file_atomic(dir / "full" / "keep.txt", std::string("mine"));
  expect_error({"init", "--preset", "tiny-gpt2", "--out", (dir / "full").string()}, "not an empty directory");
  EXPECT_EQ(util::read_file(dir / "full" / "keep.txt"), "mine");
  util::write_file_atomic(dir / "file", std::string("x"));
  expect_error({"init", "--preset", "tiny-gpt2", "--out", (dir / "file" / "m").string()}, "--out");
  // No tokenizer at all names the option; nothing is left behind.
  InitOptions o;
  try {
    (void)init_checkpoint(dir / "y", tiny_gpt2(), o);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--tokenizer"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "y"));
  // A tokenizer bigger than the model's vocabulary is refused before any weight is written.
  VEIL_REQUIRE_SHARED(assets);
  ModelConfig small = tiny_gpt2();
  small.vocab_size = 1000;
  o.tokenizer = assets / "tokenizers" / "gpt2";
  EXPECT_THROW((void)init_checkpoint(dir / "z", small, o), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "z"));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".veil-init-"), std::string::npos) << "left behind: " << e.path();
}

}  // namespace
}  // namespace veil::model
