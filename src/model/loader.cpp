#include "veil/model/loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "veil/checkpoint/llama2c.h"
#include "veil/checkpoint/weights.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::model {
namespace fs = std::filesystem;

ModelFiles read_model(const fs::path& path) {
  std::error_code ec;
  VEIL_CHECK_ARG(fs::exists(path, ec), "model not found: ", path.string());
  ModelFiles f;
  TensorMap tensors;
  if (fs::is_regular_file(path, ec)) {
    // A llama2.c checkpoint.
    auto m = checkpoint::read_llama2c(path);
    f.config = ModelConfig::from_json(checkpoint::llama_config_json(m));
    tensors = std::move(m.tensors);
  } else {
    VEIL_CHECK_ARG(fs::exists(path / "config.json"), path.string(), " has no config.json");
    f.config = ModelConfig::from_file(path / "config.json");
    tensors = checkpoint::load_weights(path);
  }
  try {
    f.weights = family_traits(f.config.family).import_weights(f.config, std::move(tensors));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(util::cat(path.string(), ": ", e.what()));
  }
  return f;
}

std::unique_ptr<CausalLM> build_model(ModelConfig cfg, ModelParams params, std::shared_ptr<LinearExecutor> executor) {
  auto family = cfg.family;
  return family_traits(family).make(std::move(cfg), std::move(params), std::move(executor));
}

LoadedModel load_model(const fs::path& path, bool train_base) {
  auto files = read_model(path);
  LoadedModel out;
  out.executor = std::make_shared<PlainExecutor>(std::move(files.weights.linear), train_base);
  out.model = build_model(files.config, std::move(files.weights.params), out.executor);
  return out;
}

void save_model(const fs::path& dir, const ModelConfig& cfg, const ModelParams& params, const LinearWeights& linear) {
  fs::create_directories(dir);
  auto tensors = family_traits(cfg.family).export_weights(cfg, params, linear);
  checkpoint::TensorMap detached;
  for (auto& [name, t] : tensors) detached[name] = t.detach().contiguous();
  checkpoint::save_safetensors(dir / "model.safetensors", detached, {{"format", "pt"}});
  util::write_file_atomic(dir / "config.json", cfg.to_json().dump(2) + "\n");
}

TensorMap random_hf_weights(const ModelConfig& cfg, std::uint64_t seed, double std) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto w = init_weights(cfg, [&](std::vector<std::int64_t> shape, Init init) {
    if (init == Init::kOnes) return at::ones(shape, at::kFloat);
    if (init == Init::kZeros) return at::zeros(shape, at::kFloat);
    return at::empty(shape, at::kFloat).normal_(0, std, gen);
  });
  return family_traits(cfg.family).export_weights(cfg, w.params, w.linear);
}

}  // namespace veil::model
