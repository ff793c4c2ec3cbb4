#include "designs/guarded/dp_noise.h"

#include <cmath>
#include <cstring>

#include <ATen/ATen.h>
#include <openssl/rand.h>

#include "veil/util/check.h"

namespace veil::designs::guarded {

std::uint64_t SecureBits::word() {
  if (pos_ + 8 > sizeof(buf_)) {
    VEIL_CHECK_IO(RAND_bytes(buf_, static_cast<int>(sizeof(buf_))) == 1, "OpenSSL RAND_bytes failed");
    pos_ = 0;
  }
  std::uint64_t w = 0;
  std::memcpy(&w, buf_ + pos_, 8);
  pos_ += 8;
  return w;
}

u128 SecureBits::uniform_below(u128 m) {
  VEIL_CHECK_ARG(m >= 1, "uniform_below(0)");
  if (m == 1) return 0;
  // Smallest all-ones mask covering m - 1; draw masked words until one is below m (p >= 1/2).
  u128 mask = m - 1;
  for (int s = 1; s < 128; s *= 2) mask |= mask >> s;
  const bool wide = (mask >> 64) != 0;
  for (;;) {
    u128 v = word();
    if (wide) v |= static_cast<u128>(word()) << 64;
    v &= mask;
    if (v < m) return v;
  }
}

bool SecureBits::bernoulli(u128 num, u128 den) {
  VEIL_CHECK_ARG(den >= 1 && num <= den, "bernoulli: bad probability");
  return uniform_below(den) < num;
}

bool SecureBits::bernoulli_exp(u128 num, u128 den) {
  VEIL_CHECK_ARG(den >= 1, "bernoulli_exp: zero denominator");
  // exp(-γ) = exp(-1)^floor(γ) · exp(-(γ - floor(γ))); each exp(-1) factor fails with
  // probability 1 - 1/e, so the loop ends early however large γ is.
  auto at_most_one = [this](u128 n, u128 d) {
    // γ = n/d in [0, 1]: K = 1; while Bernoulli(γ/K): K++; return K odd.
    u128 k = 1;
    while (bernoulli(n, d * k)) ++k;
    return (k % 2) == 1;
  };
  while (num > den) {
    if (!at_most_one(1, 1)) return false;
    num -= den;
  }
  return at_most_one(num, den);
}

std::int64_t discrete_laplace(SecureBits& bits, std::int64_t t) {
  VEIL_CHECK_ARG(t >= 1, "discrete_laplace: scale must be >= 1");
  const auto ut = static_cast<u128>(t);
  for (;;) {
    const auto u = bits.uniform_below(ut);
    if (!bits.bernoulli_exp(u, ut)) continue;
    std::int64_t v = 0;
    while (bits.bernoulli_exp(1, 1)) ++v;
    const std::int64_t x = static_cast<std::int64_t>(u) + t * v;
    const bool negative = bits.bernoulli(1, 2);
    if (negative && x == 0) continue;
    return negative ? -x : x;
  }
}

std::int64_t discrete_gaussian(SecureBits& bits, std::uint64_t sigma2_num, std::uint64_t sigma2_den) {
  VEIL_CHECK_ARG(sigma2_num >= 1 && sigma2_den >= 1, "discrete_gaussian: sigma^2 must be positive");
  // t = floor(σ) + 1, σ = sqrt(num/den).
  auto t = static_cast<std::int64_t>(std::floor(std::sqrt(static_cast<double>(sigma2_num) / static_cast<double>(sigma2_den))));
  while (static_cast<u128>(t) * t * sigma2_den > sigma2_num) --t;                 // exact floor
  while (static_cast<u128>(t + 1) * (t + 1) * sigma2_den <= sigma2_num) ++t;
  t += 1;
  const u128 n = sigma2_num, d = sigma2_den, ut = static_cast<u128>(t);
  for (;;) {
    const std::int64_t y = discrete_laplace(bits, t);
    // Accept with exp(-(|y| - σ²/t)² / (2σ²)) = exp(-(|y|·t·d - n)² / (2·t²·n·d)).
    const u128 ay = static_cast<u128>(y < 0 ? -y : y);
    const u128 a = ay * ut * d, diff = a > n ? a - n : n - a;
    VEIL_CHECK_STATE(diff < (static_cast<u128>(1) << 60), "discrete_gaussian: sample out of range");
    if (bits.bernoulli_exp(diff * diff, 2 * ut * ut * n * d)) return y;
  }
}

double GridNoise::scale() const {
  return gaussian ? grid * std::sqrt(static_cast<double>(sigma2_num) / 1024.0) : grid * static_cast<double>(laplace_t);
}

GridNoise grid_noise(bool gaussian, double scale) {
  VEIL_CHECK_ARG(scale >= 1e-6 && scale <= 1e6, "noise scale must be in [1e-6, 1e6] (got ", scale, ")");
  GridNoise g;
  g.gaussian = gaussian;
  g.grid = std::exp2(std::floor(std::log2(scale / 64.0)));
  const double s = scale / g.grid;  // in [64, 128)
  if (gaussian) g.sigma2_num = static_cast<std::uint64_t>(std::llround(s * s * 1024.0));
  else g.laplace_t = std::llround(s);
  return g;
}

at::Tensor add_grid_noise(const at::Tensor& x, const GridNoise& g) {
  auto xd = x.detach().to(at::kDouble);
  VEIL_CHECK_STATE(xd.isfinite().all().item<bool>(), "the activation to be noised is not finite");
  auto k = at::round(xd / g.grid).clamp(-(1 << 25), 1 << 25).to(at::kLong).contiguous();
  auto* p = k.data_ptr<std::int64_t>();
  SecureBits bits;
  const std::int64_t limit = std::int64_t{1} << 24;
  for (std::int64_t i = 0, n = k.numel(); i < n; ++i) {
    p[i] += g.gaussian ? discrete_gaussian(bits, g.sigma2_num, 1024) : discrete_laplace(bits, g.laplace_t);
    VEIL_CHECK_ARG(p[i] < limit && p[i] > -limit, "noisy activation ", static_cast<double>(p[i]) * g.grid,
                   " is off the float32-exact grid of step ", g.grid, " (clip the activations: --opt clip=C)");
  }
  return (k.to(at::kDouble) * g.grid).to(at::kFloat);
}

}  // namespace veil::designs::guarded
