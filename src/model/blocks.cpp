#include "veil/model/blocks.h"

#include <cmath>
#include <numbers>

#include <ATen/ATen.h>

#include "veil/model/kv_cache.h"
#include "veil/util/check.h"
#include "fused_ops.h"

namespace veil::model {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  auto var = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * at::rsqrt(var + eps) * weight;
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

at::Tensor rope_inv_freq(const ModelConfig& cfg) {
  const auto d = cfg.head_dim;
  // As HF: arange in int64, then float32 division and pow.
  auto inv = 1.0 / at::pow(cfg.rope_theta, at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d));
  if (!cfg.rope_scaling) return inv;
  const auto& s = *cfg.rope_scaling;
  if (s.type == "linear") return inv / s.factor;
  // Llama 3: keep high frequencies, divide low ones by `factor`, interpolate in between.
  const double low_wavelen = static_cast<double>(s.original_max_position_embeddings) / s.low_freq_factor;
  const double high_wavelen = static_cast<double>(s.original_max_position_embeddings) / s.high_freq_factor;
  auto wavelen = 2 * std::numbers::pi / inv;
  auto scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
  auto smooth = (static_cast<double>(s.original_max_position_embeddings) / wavelen - s.low_freq_factor) /
                (s.high_freq_factor - s.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

Rope::Rope(const ModelConfig& cfg, std::int64_t max_positions) {
  inv_freq_ = rope_inv_freq(cfg);
  auto pos = at::arange(max_positions, at::kFloat);
  auto freqs = at::outer(pos, inv_freq_);
  auto emb = at::cat({freqs, freqs}, -1);
  cos_ = emb.cos();
  sin_ = emb.sin();
}

at::Tensor Rope::apply(const at::Tensor& x, std::int64_t offset) const {
  const auto t = x.size(2);
  VEIL_CHECK_ARG(offset + t <= cos_.size(0), "position ", offset + t, " exceeds the model's maximum of ",
                 cos_.size(0));
  auto cos = cos_.narrow(0, offset, t);
  auto sin = sin_.narrow(0, offset, t);
  const auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

at::Tensor attention_core(const ModelConfig& cfg, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const Rope* rope, KvCache* cache, int layer, std::int64_t offset) {
  const auto b = q.size(0), t = q.size(1);
  const auto h = cfg.num_heads, kvh = cfg.num_kv_heads, hd = cfg.head_dim, g = h / kvh;
  auto qh = q.view({b, t, h, hd}).transpose(1, 2);     // [B, H, T, hd]
  auto kh = k.view({b, t, kvh, hd}).transpose(1, 2);   // [B, KV, T, hd]
  auto vh = v.view({b, t, kvh, hd}).transpose(1, 2);
  if (rope) {
    qh = rope->apply(qh, offset);
    kh = rope->apply(kh, offset);
  }
  if (cache) std::tie(kh, vh) = cache->append(layer, kh, vh);
  const auto s = kh.size(2);
  // Group the query heads that share a KV head: [B, KV, G*T, hd].
  auto qg = qh.reshape({b, kvh, g * t, hd});
  // Scale, causal mask and softmax in one fused step after the score GEMM (decoding's single
  // query sees every cached key: the same kernel with nothing masked).
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  auto q3 = qg.reshape({b * kvh, g * t, hd});
  auto k3t = kh.reshape({b * kvh, s, hd}).transpose(1, 2);
  auto probs = detail::causal_softmax(at::bmm(q3, k3t), t, scale).view({b, kvh, g * t, s});
  auto out = at::matmul(probs, vh);  // [B, KV, G*T, hd]
  return out.view({b, h, t, hd}).transpose(1, 2).reshape({b, t, h * hd});
}

KvCache::KvCache(const ModelConfig& cfg, std::int64_t batch, std::int64_t max_length) : max_length_(max_length) {
  VEIL_CHECK_ARG(max_length > 0, "KV cache length must be positive");
  for (std::int64_t l = 0; l < cfg.num_layers; ++l) {
    k_.push_back(at::empty({batch, cfg.num_kv_heads, max_length, cfg.head_dim}, at::kFloat));
    v_.push_back(at::empty({batch, cfg.num_kv_heads, max_length, cfg.head_dim}, at::kFloat));
  }
}

std::pair<at::Tensor, at::Tensor> KvCache::append(int layer, const at::Tensor& k, const at::Tensor& v) {
  VEIL_CHECK_ARG(layer >= 0 && layer < static_cast<int>(k_.size()), "KV cache has no layer ", layer);
  const auto t = k.size(2);
  VEIL_CHECK_ARG(length_ + t <= max_length_, "KV cache full: ", length_, " + ", t, " positions exceed ", max_length_);
  k_[layer].narrow(2, length_, t).copy_(k);
  v_[layer].narrow(2, length_, t).copy_(v);
  return {k_[layer].narrow(2, 0, length_ + t), v_[layer].narrow(2, 0, length_ + t)};
}

void KvCache::advance(std::int64_t n) { length_ += n; }

}  // namespace veil::model
