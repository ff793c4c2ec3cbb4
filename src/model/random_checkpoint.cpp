#include "veil/model/random_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "veil/checkpoint/safetensors_file.h"
#include "veil/model/family.h"
#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::model {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// splitmix64 of the seed and the FNV-1a hash of the name.
std::uint64_t tensor_seed(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<checkpoint::TensorSpec> checkpoint_layout(const ModelConfig& cfg, checkpoint::DType dtype) {
  cfg.validate();
  VEIL_CHECK_ARG(checkpoint::is_floating(dtype), "checkpoint dtype ", checkpoint::dtype_name(dtype),
                 " is not a floating-point type");
  // The family's export map, run on meta tensors (shapes without storage).
  const auto w = init_weights(cfg, [](std::vector<std::int64_t> shape, Init) {
    return at::empty(shape, at::TensorOptions().device(at::kMeta));
  });
  std::vector<checkpoint::TensorSpec> out;
  for (const auto& [name, t] : family_traits(cfg.family).export_weights(cfg, w.params, w.linear))
    out.push_back({name, dtype, t.sizes().vec()});
  return out;
}

void random_tensor_bytes(const ModelConfig& cfg, const checkpoint::TensorSpec& spec, std::uint64_t seed,
                         const checkpoint::ByteSink& sink) {
  const at::ScalarType st = checkpoint::to_scalar_type(spec.dtype);
  std::int64_t n = 1;
  for (auto d : spec.shape) n *= d;
  enum class Fill { kNormal, kOnes, kZeros } fill = Fill::kNormal;
  double std = 0.02;
  if (spec.shape.size() == 1) fill = ends_with(spec.name, ".bias") ? Fill::kZeros : Fill::kOnes;
  if (fill == Fill::kNormal) std = family_traits(cfg.family).init_std(cfg, spec.name, std);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(tensor_seed(seed, spec.name));
  constexpr std::int64_t kChunk = std::int64_t{1} << 22;
  for (std::int64_t i = 0; i < n; i += kChunk) {
    const std::int64_t m = std::min(kChunk, n - i);
    at::Tensor chunk = fill == Fill::kNormal ? at::empty({m}, at::kFloat).normal_(0, std, gen)
                       : fill == Fill::kOnes ? at::ones({m}, at::kFloat)
                                             : at::zeros({m}, at::kFloat);
    if (st != at::kFloat) chunk = chunk.to(st);
    sink(chunk.data_ptr(), static_cast<std::size_t>(m) * chunk.element_size());
  }
}

RandomCheckpointInfo write_random_weights(const std::filesystem::path& dir, const ModelConfig& cfg,
                                          const RandomCheckpointOptions& opts) {
  const auto specs = checkpoint_layout(cfg, opts.dtype);
  RandomCheckpointInfo info;
  for (const auto& s : specs) {
    info.bytes += s.nbytes();
    std::int64_t n = 1;
    for (auto d : s.shape) n *= d;
    info.parameters += n;
  }
  std::uint64_t done = 0;
  const checkpoint::TensorSource source = [&](const checkpoint::TensorSpec& s, const checkpoint::ByteSink& sink) {
    random_tensor_bytes(cfg, s, opts.seed, sink);
    done += s.nbytes();
    if (opts.on_tensor) opts.on_tensor(s, done, info.bytes);
  };
  if (info.bytes <= opts.max_shard_bytes) {
    checkpoint::write_safetensors_streamed(dir / "model.safetensors", specs, source);
    return info;
  }
  const auto shards = checkpoint::plan_shards(specs, opts.max_shard_bytes);
  checkpoint::write_safetensors_sharded_streamed(dir, shards, source);
  info.shards = shards.size();
  return info;
}

}  // namespace veil::model
