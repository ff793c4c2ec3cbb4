// The accounting of the noise option (see accounting.h and docs/designs/guarded.md).
#include "designs/guarded/accounting.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "designs/guarded/dp_noise.h"
#include "veil/designs/guarded/split.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {
namespace {

double conversion(double rho, double delta, double a) {
  return a * rho + (std::log(1 / delta) + (a - 1) * std::log(1 - 1 / a) - std::log(a)) / (a - 1);
}

}  // namespace

double zcdp_epsilon(double rho, double delta) {
  VEIL_CHECK_ARG(rho >= 0 && delta > 0 && delta < 1, "zcdp_epsilon: rho >= 0 and delta in (0, 1)");
  if (rho == 0) return 0;
  // The bound is convex in α: a coarse log grid, then golden-section search around the best point.
  double best_a = 1.0001, best = conversion(rho, delta, best_a);
  for (double a = 1.0001; a < 1e7; a *= 1.01)
    if (double e = conversion(rho, delta, a); e < best) best = e, best_a = a;
  double lo = std::max(1.00001, best_a / 1.01), hi = best_a * 1.01;
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int i = 0; i < 200; ++i) {
    const double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    if (conversion(rho, delta, x1) < conversion(rho, delta, x2)) hi = x2;
    else lo = x1;
  }
  return std::max(0.0, std::min(best, conversion(rho, delta, 0.5 * (lo + hi))));
}

nlohmann::json noise_accounting(const SplitOptions& o, std::int64_t dim, std::int64_t seq_len,
                                std::int64_t releases_per_example) {
  nlohmann::json j;
  if (o.noise == Noise::kNone) {
    j["mechanism"] = "none";
    return j;
  }
  const bool gaussian = o.noise == Noise::kGaussian;
  const auto g = grid_noise(gaussian, o.noise_scale);
  const double s = g.scale(), T = static_cast<double>(seq_len), d = static_cast<double>(dim);
  j["mechanism"] = gaussian ? "discrete_gaussian" : "discrete_laplace";
  j["sampler"] = "exact (Canonne-Kamath-Steinke 2020) on OpenSSL RAND_bytes, values on a grid";
  j["requested_scale"] = o.noise_scale;
  j["scale"] = s;
  j["grid"] = g.grid;
  j["clip_l2"] = o.clip;
  j["seq_len"] = seq_len;
  j["unit"] = "one training example (a row of seq_len tokens): one token changes its own and every later position";
  j["releases_per_example"] = releases_per_example;
  if (gaussian) j["rho_per_unit_l2"] = 1.0 / (2 * s * s);
  else j["d_chi_epsilon_per_unit_l1"] = 1.0 / s;
  if (o.clip <= 0) {
    j["dp"] = "none: without --opt clip the sensitivity is unbounded";
    return j;
  }
  const double l2 = 2 * o.clip * std::sqrt(T) + g.grid * std::sqrt(T * d);
  const double l1 = T * (2 * o.clip * std::sqrt(d) + g.grid * d);
  const double n = static_cast<double>(releases_per_example);
  if (gaussian) {
    const double rho = l2 * l2 / (2 * s * s);
    j["l2_sensitivity"] = l2;
    j["rho_per_release"] = rho;
    j["rho"] = n * rho;
    j["dp_delta"] = 1e-5;
    j["epsilon_per_release"] = zcdp_epsilon(rho, 1e-5);
    j["dp_epsilon"] = zcdp_epsilon(n * rho, 1e-5);
    j["composition"] = "zCDP: rho adds up over the releases of an example";
  } else {
    j["l1_sensitivity"] = l1;
    j["epsilon_per_release"] = l1 / s;
    j["dp_delta"] = 0.0;
    j["dp_epsilon"] = n * l1 / s;
    j["composition"] = "basic: epsilon adds up over the releases of an example";
  }
  return j;
}

}  // namespace veil::designs::guarded
