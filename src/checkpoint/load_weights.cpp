#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "veil/checkpoint/checkpoint_reader.h"
#include "veil/checkpoint/weights.h"
#include "veil/util/check.h"

namespace veil::checkpoint {
namespace fs = std::filesystem;

namespace {

// True when no float32 in [p, p + n) has an all-ones exponent (NaN or Inf). One pass, vectorisable;
// at::isfinite(t).all() takes about 3x longer here.
bool all_finite_f32(const float* p, std::int64_t n) {
  constexpr std::uint32_t kExp = 0x7F800000u;
  constexpr std::int64_t kChunk = 1024;
  const auto* bits = reinterpret_cast<const std::uint32_t*>(p);
  std::int64_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    std::uint32_t m = 0;  // the largest exponent field in the chunk (a fixed trip count vectorises)
    for (std::int64_t j = 0; j < kChunk; ++j) m = std::max(m, bits[i + j] & kExp);
    if (m == kExp) return false;
  }
  for (; i < n; ++i)
    if ((bits[i] & kExp) == kExp) return false;
  return true;
}

}  // namespace

void check_finite(const std::string& name, const at::Tensor& t) {
  if (!t.defined() || !at::isFloatingType(t.scalar_type()) || t.numel() == 0) return;
  if (t.scalar_type() == at::kFloat && t.is_contiguous() && t.device().is_cpu()) {
    if (all_finite_f32(t.data_ptr<float>(), t.numel())) return;
  }
  const at::Tensor finite = at::isfinite(t);
  if (finite.all().item<bool>()) return;
  const at::Tensor flat = t.reshape({-1});
  const int64_t i = at::logical_not(finite.reshape({-1})).nonzero()[0][0].item<int64_t>();
  const double v = flat[i].item<double>();
  throw std::invalid_argument(util::cat("tensor \"", name, "\" holds a non-finite value (", v, ") at flat index ", i,
                                        "; pass allow_non_finite to load it anyway"));
}

TensorMap load_weights(const fs::path& path, const LoadOptions& opts) {
  VEIL_CHECK_ARG(at::isFloatingType(opts.dtype), "load_weights: dtype ", c10::toString(opts.dtype),
                 " is not a floating-point type");
  const CheckpointReader reader(path);
  TensorMap out;
  for (const auto& name : reader.names()) out.emplace(name, reader.load(name, opts));
  return out;
}

}  // namespace veil::checkpoint
