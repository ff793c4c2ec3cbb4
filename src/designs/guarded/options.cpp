// --opt parsing for `split` and `gradfree`, and the accounting of the noise option.
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "veil/designs/guarded/split.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {
namespace {

double parse_double(const std::string& key, const std::string& v) {
  std::size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  VEIL_CHECK_ARG(used == v.size() && !v.empty() && std::isfinite(d), "--opt ", key, "=", v, ": not a number");
  return d;
}

int parse_int(const std::string& key, const std::string& v) {
  double d = parse_double(key, v);
  VEIL_CHECK_ARG(d == std::floor(d) && std::abs(d) < 1e6, "--opt ", key, "=", v, ": not an integer");
  return static_cast<int>(d);
}

bool parse_bool(const std::string& key, const std::string& v) {
  VEIL_CHECK_ARG(v == "0" || v == "1" || v == "true" || v == "false", "--opt ", key, "=", v, ": expected 0 or 1");
  return v == "1" || v == "true";
}

// Standard normal CDF.
double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// δ(ε) of μ-GDP (Dong, Roth and Su 2019).
double gdp_delta(double mu, double eps) {
  return phi(-eps / mu + mu / 2) - std::exp(eps + std::log(std::max(1e-300, phi(-eps / mu - mu / 2))));
}

// The ε at which μ-GDP gives (ε, δ)-DP.
double gdp_epsilon(double mu, double delta) {
  double lo = 0, hi = 1;
  while (gdp_delta(mu, hi) > delta && hi < 1e6) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    (gdp_delta(mu, mid) > delta ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace

SplitOptions parse_split_options(const std::string& design, const std::map<std::string, std::string>& opts) {
  SplitOptions o;
  o.gradfree = design == "gradfree";
  std::set<std::string> keys{"k", "m", "noise", "noise_scale", "epsilon", "clip", "dcor", "quant_bits", "mix",
                             "server_lora", "workers"};
  if (o.gradfree) keys.insert({"zo_bottom", "zo_eps", "zo_lr"});
  for (const auto& [key, v] : opts) {
    if (!keys.count(key)) {
      std::string names;
      for (const auto& k : keys) names += (names.empty() ? "" : ", ") + k;
      VEIL_CHECK_ARG(false, "design '", design, "' has no option '", key, "' (options: ", names, ")");
    }
    if (key == "k") o.k = parse_int(key, v);
    else if (key == "m") o.m = parse_int(key, v);
    else if (key == "noise") {
      VEIL_CHECK_ARG(v == "none" || v == "gaussian" || v == "laplace", "--opt noise=", v,
                     ": expected none, gaussian or laplace");
      o.noise = v == "gaussian" ? Noise::kGaussian : v == "laplace" ? Noise::kLaplace : Noise::kNone;
    } else if (key == "noise_scale") o.noise_scale = parse_double(key, v);
    else if (key == "epsilon") {
      double e = parse_double(key, v);
      VEIL_CHECK_ARG(e > 0, "--opt epsilon must be positive");
      o.noise_scale = 1.0 / e;
    } else if (key == "clip") o.clip = parse_double(key, v);
    else if (key == "dcor") o.dcor = parse_double(key, v);
    else if (key == "quant_bits") o.quant_bits = parse_int(key, v);
    else if (key == "mix") {
      VEIL_CHECK_ARG(v == "none" || v == "orthogonal", "--opt mix=", v, ": expected none or orthogonal");
      o.mix = v == "orthogonal";
    } else if (key == "server_lora") o.server_lora = parse_bool(key, v);
    else if (key == "workers") VEIL_CHECK_ARG(v == "in-process", "--opt workers=", v, ": only 'in-process' (use --workers for remote ones)");
    else if (key == "zo_bottom") o.zo_bottom = parse_bool(key, v);
    else if (key == "zo_eps") o.zo_eps = parse_double(key, v);
    else if (key == "zo_lr") o.zo_lr = parse_double(key, v);
  }
  if (opts.count("epsilon")) {
    VEIL_CHECK_ARG(!opts.count("noise_scale"), "--opt epsilon and noise_scale are exclusive");
    VEIL_CHECK_ARG(o.noise == Noise::kLaplace || !opts.count("noise"), "--opt epsilon applies to Laplace noise");
    o.noise = Noise::kLaplace;
  }
  VEIL_CHECK_ARG(o.k >= 1 && o.m >= 1, "--opt k and m must be at least 1 (the client keeps a block at each end)");
  VEIL_CHECK_ARG(o.noise_scale >= 0 && o.clip >= 0 && o.dcor >= 0, "--opt noise_scale, clip and dcor must not be negative");
  VEIL_CHECK_ARG(o.noise == Noise::kNone || o.noise_scale > 0, "--opt noise=... needs noise_scale > 0 (or epsilon)");
  VEIL_CHECK_ARG(o.quant_bits == 0 || (o.quant_bits >= 2 && o.quant_bits <= 16), "--opt quant_bits must be 0 or 2..16");
  VEIL_CHECK_ARG(o.zo_eps > 0, "--opt zo_eps must be positive");
  VEIL_CHECK_ARG(o.zo_lr >= 0, "--opt zo_lr must not be negative");
  return o;
}

nlohmann::json noise_accounting(const SplitOptions& o, std::int64_t dim) {
  nlohmann::json j;
  if (o.noise == Noise::kNone) {
    j["mechanism"] = "none";
    return j;
  }
  const double s = o.noise_scale;
  j["scale"] = s;
  j["clip_l2"] = o.clip;
  j["unit"] = "one token's activation row, one release";
  if (o.noise == Noise::kLaplace) {
    j["mechanism"] = "laplace";
    // Density ratio of two releases: exp(|h - h'|_1 / b).
    j["d_chi_epsilon_per_unit_l1"] = 1.0 / s;
    if (o.clip > 0) {
      // Clipped rows differ by at most 2C in L2, so by at most 2C·sqrt(d) in L1.
      j["dp_epsilon"] = 2.0 * o.clip * std::sqrt(static_cast<double>(dim)) / s;
      j["composition"] = "n releases of the same token: n * dp_epsilon";
    }
  } else {
    j["mechanism"] = "gaussian";
    j["d_chi"] = "no pure d_chi guarantee; per unit L2 distance it is (1/sigma)-GDP";
    j["gdp_mu_per_unit_l2"] = 1.0 / s;
    if (o.clip > 0) {
      const double mu = 2.0 * o.clip / s;
      j["gdp_mu"] = mu;
      j["dp_delta"] = 1e-5;
      j["dp_epsilon"] = gdp_epsilon(mu, 1e-5);
      j["composition"] = "n releases of the same token: sqrt(n) * gdp_mu";
    }
  }
  return j;
}

}  // namespace veil::designs::guarded
