// Differential-privacy noise for `split` / `gradfree`, sampled exactly on a fixed grid.
//
// Floating-point noise (Box–Muller or inverse-CDF Laplace on 32-bit uniforms, added in float) is
// open to the attacks of Mironov (CCS 2012): the set of floats a noisy value can take depends on
// the clean value, so the low-order bits identify it. Here every released value is an integer
// multiple k·γ of a power-of-two grid step γ (exact in float32 for |k| < 2^24): the clean
// activation is rounded to the grid and integer noise from an exact sampler is added, so the
// output distribution is exactly the discrete one the accounting assumes.
//
// Samplers (Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy",
// NeurIPS 2020, Algorithms 1-3): Bernoulli(exp(-γ)) for rational γ, the discrete Laplace
// P(x) ∝ exp(-|x|/t) for integer t, and the discrete Gaussian P(x) ∝ exp(-x²/(2σ²)) for rational
// σ² = num/den; all in exact integer arithmetic (128-bit), with uniform integers drawn by rejection
// from OpenSSL RAND_bytes (buffered), never from a seeded generator.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace veil::designs::guarded {

using u128 = unsigned __int128;

// Uniform bits from OpenSSL's RAND_bytes, buffered (4 KiB refills).
class SecureBits {
 public:
  std::uint64_t word();
  // Uniform in [0, m), m >= 1, by rejection (no modulo bias).
  u128 uniform_below(u128 m);
  // Bernoulli(num / den), 0 <= num <= den, den >= 1.
  bool bernoulli(u128 num, u128 den);
  // Bernoulli(exp(-num/den)), num >= 0, den >= 1 (CKS Algorithm 1).
  bool bernoulli_exp(u128 num, u128 den);

 private:
  unsigned char buf_[4096];
  std::size_t pos_ = sizeof(buf_);
};

// Discrete Laplace with integer scale t >= 1: P(x) ∝ exp(-|x|/t) (CKS Algorithm 2).
[[nodiscard]] std::int64_t discrete_laplace(SecureBits& bits, std::int64_t t);
// Discrete Gaussian with σ² = num/den > 0: P(x) ∝ exp(-x²/(2σ²)) (CKS Algorithm 3).
[[nodiscard]] std::int64_t discrete_gaussian(SecureBits& bits, std::uint64_t sigma2_num, std::uint64_t sigma2_den);

// The noise actually used for a requested scale: the grid step γ = 2^-j (the largest power of two
// with γ <= scale / 64), and the scale rounded to what the exact sampler takes — σ² in grid units
// as a rational with denominator 1024 (Gaussian), or an integer number of grid steps (Laplace).
struct GridNoise {
  bool gaussian = true;
  double grid = 0;               // γ
  std::uint64_t sigma2_num = 0;  // Gaussian: (σ/γ)² = sigma2_num / 1024
  std::int64_t laplace_t = 0;    // Laplace: b/γ
  [[nodiscard]] double scale() const;  // the σ or b actually applied, in activation units
};
[[nodiscard]] GridNoise grid_noise(bool gaussian, double scale);

// Rounds x to the grid and adds exact discrete noise: returns k·γ (f32), k = round(x/γ) + noise.
// Throws std::invalid_argument if some |k| >= 2^24 (not exactly representable in float32).
[[nodiscard]] at::Tensor add_grid_noise(const at::Tensor& x, const GridNoise& g);

}  // namespace veil::designs::guarded
