// ModelReader: a party's layers read tensor by tensor equal what the whole-model loader gives, for
// both families, single-file and sharded; a crafted checkpoint (wrong shape, NaN, missing tensor,
// layer out of range) is one clear error.
#include "veil/model/layer_reader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include <nlohmann/json.hpp>

#include "support/shared_assets.h"
#include "veil/checkpoint/weights.h"
#include "veil/model/init_checkpoint.h"
#include "veil/model/loader.h"
#include "veil/model/presets.h"
#include "veil/util/file_io.h"

namespace veil::model {
namespace {
namespace fs = std::filesystem;

// A model directory without a tokenizer (the reader does not need one).
fs::path write_model(const fs::path& dir, const ModelConfig& cfg, std::uint64_t max_shard_bytes = 1ull << 40) {
  fs::create_directories(dir);
  RandomCheckpointOptions o;
  o.dtype = checkpoint::DType::F32;
  o.seed = 3;
  o.max_shard_bytes = max_shard_bytes;
  (void)write_random_weights(dir, cfg, o);
  util::write_file_atomic(dir / "config.json", cfg.to_json().dump());
  return dir;
}

void expect_same_layers(const fs::path& dir) {
  const ModelFiles whole = read_model(dir);
  const ModelReader reader(dir);
  const int n = static_cast<int>(reader.config().num_layers);
  const auto part = reader.linear_layers(1, n);
  for (const auto& [site, w] : whole.weights.linear) {
    if (site.layer == 0 || site.proj == Proj::kLmHead) {
      EXPECT_FALSE(part.count(site)) << site.layer;
      continue;
    }
    ASSERT_TRUE(part.count(site)) << site.layer << " " << proj_module_name(site.proj);
    EXPECT_TRUE(at::equal(part.at(site), w)) << site.layer << " " << proj_module_name(site.proj);
    EXPECT_TRUE(part.at(site).is_contiguous());
  }
  EXPECT_TRUE(at::equal(reader.linear(n, Proj::kLmHead), whole.weights.linear.at({n, Proj::kLmHead})));
}

TEST(ModelReader, LayersEqualTheWholeModelsForBothFamilies) {
  const fs::path dir = testing::scratch_dir();
  ModelConfig llama = tiny_llama();
  llama.num_layers = 3;
  ModelConfig gpt2 = tiny_gpt2();  // Conv1D weights, stored [in, out]
  gpt2.num_layers = 3;
  gpt2.tie_word_embeddings = false;
  expect_same_layers(write_model(dir / "llama", llama));
  expect_same_layers(write_model(dir / "gpt2", gpt2));
  expect_same_layers(write_model(dir / "llama-sharded", llama, 1 << 18));
  fs::remove_all(dir);
}

TEST(ModelReader, GptCheckpointsWithoutTheTransformerPrefixAreRead) {
  const fs::path dir = testing::scratch_dir();
  const fs::path src = write_model(dir / "src", tiny_gpt2());
  auto tensors = checkpoint::load_weights(src);
  checkpoint::TensorMap bare;
  for (auto& [name, t] : tensors) bare[name.rfind("transformer.", 0) == 0 ? name.substr(12) : name] = t;
  fs::create_directories(dir / "bare");
  checkpoint::save_safetensors(dir / "bare" / "model.safetensors", bare);
  fs::copy_file(src / "config.json", dir / "bare" / "config.json");
  EXPECT_TRUE(at::equal(ModelReader(dir / "bare").linear(1, Proj::kCFc), ModelReader(src).linear(1, Proj::kCFc)));
  fs::remove_all(dir);
}

TEST(ModelReader, CraftedCheckpointsAreOneClearError) {
  const fs::path dir = testing::scratch_dir();
  const ModelConfig cfg = tiny_llama();
  const fs::path src = write_model(dir / "src", cfg);
  auto expect_error = [](const std::function<void()>& f, const std::string& says) {
    try {
      f();
      ADD_FAILURE() << "no exception; expected " << says;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  const ModelReader good(src);
  expect_error([&] { (void)good.linear(2, Proj::kQ); }, "layer 2");
  expect_error([&] { (void)good.linear(-1, Proj::kQ); }, "layer -1");
  expect_error([&] { (void)good.linear(0, Proj::kLmHead); }, "layer 0");
  expect_error([&] { (void)good.linear_layers(1, 1); }, "layers 1:1");
  expect_error([&] { (void)good.linear_layers(0, 3); }, "layers 0:3");
  expect_error([&] { (void)ModelReader(src / "model.safetensors"); }, "not a model directory");

  auto variant = [&](const std::string& name, const std::function<void(checkpoint::TensorMap&)>& edit) {
    auto t = checkpoint::load_weights(src);
    edit(t);
    fs::create_directories(dir / name);
    checkpoint::save_safetensors(dir / name / "model.safetensors", t);
    fs::copy_file(src / "config.json", dir / name / "config.json");
    return dir / name;
  };
  const auto q = "model.layers.1.self_attn.q_proj.weight";
  const fs::path bad_shape = variant("shape", [&](auto& t) { t[q] = at::zeros({32, 31}); });
  expect_error([&] { (void)ModelReader(bad_shape).linear(1, Proj::kQ); }, q);
  const fs::path nan = variant("nan", [&](auto& t) { t[q][3][4] = std::nan(""); });
  expect_error([&] { (void)ModelReader(nan).linear(1, Proj::kQ); }, "non-finite");
  const fs::path missing = variant("missing", [&](auto& t) { t.erase(q); });
  expect_error([&] { (void)ModelReader(missing).linear(1, Proj::kQ); }, q);
  // Tensors outside the party's layers are not read, so their damage does not stop it.
  EXPECT_NO_THROW((void)ModelReader(nan).linear(0, Proj::kQ));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veil::model
