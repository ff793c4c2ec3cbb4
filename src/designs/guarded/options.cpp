// --opt parsing for `split` and `gradfree` (the noise accounting is in accounting.cpp).
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

}  // namespace

SplitOptions parse_split_options(const std::string& design, const std::map<std::string, std::string>& opts) {
  SplitOptions o;
  o.gradfree = design == "gradfree";
  std::set<std::string> keys{"k", "m", "noise", "noise_scale", "epsilon", "clip", "dcor", "quant_bits", "mix",
                             "server_lora", "workers", "secret_file", "server_lr"};
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
    else if (key == "secret_file") o.secret_file = v;
    else if (key == "server_lr") o.server_lr = parse_double(key, v);
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
  VEIL_CHECK_ARG(o.server_lr >= 0, "--opt server_lr must not be negative");
  VEIL_CHECK_ARG(!opts.count("secret_file") || !o.secret_file.empty(), "--opt secret_file needs a path");
  VEIL_CHECK_ARG(o.noise == Noise::kNone || (o.noise_scale >= 1e-6 && o.noise_scale <= 1e6),
                 "--opt noise_scale (or 1/epsilon) must be in [1e-6, 1e6]");
  return o;
}

}  // namespace veil::designs::guarded
