#include "veil/designs/obfuscatune/options.h"

#include <cmath>
#include <cstdlib>

#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

double parse_number(const std::string& key, const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  VEIL_CHECK_ARG(!value.empty() && end == value.c_str() + value.size() && std::isfinite(v), "obfuscatune: --opt ",
                 key, "=", value, " is not a number");
  return v;
}

}  // namespace

const char* to_string(Variant v) {
  switch (v) {
    case Variant::kFull: return "full";
    case Variant::kPaper: return "paper";
    case Variant::kMatched: return "matched";
  }
  return "?";
}

ObfuscatuneOptions ObfuscatuneOptions::parse(const std::map<std::string, std::string>& opts) {
  ObfuscatuneOptions o;
  bool matrix_given = false;
  for (const auto& [key, value] : opts) {
    if (key == "matrix") {
      o.matrix = parse_matrix_kind(value);
      VEIL_CHECK_ARG(o.matrix != MatrixKind::kIdentity, "obfuscatune: --opt matrix=identity would send plaintext");
      matrix_given = true;
    } else if (key == "kappa") {
      o.kappa = parse_number(key, value);
    } else if (key == "variant") {
      bool known = false;
      for (Variant v : {Variant::kMatched, Variant::kFull, Variant::kPaper})
        if (value == to_string(v)) {
          o.variant = v;
          known = true;
        }
      VEIL_CHECK_ARG(known, "obfuscatune: --opt variant must be matched, full or paper (got '", value, "')");
    } else if (key == "mlp") {
      VEIL_CHECK_ARG(value == "permuted" || value == "full", "obfuscatune: --opt mlp must be permuted or full (got '",
                     value, "')");
      o.mlp_full = value == "full";
    } else if (key == "freivalds") {
      o.freivalds_rate = parse_number(key, value);
    } else if (key == "freivalds_tol") {
      o.freivalds_tol = parse_number(key, value);
    } else {
      VEIL_CHECK_ARG(false, "obfuscatune: unknown --opt '", key,
                     "' (known: matrix, kappa, variant, mlp, freivalds, freivalds_tol)");
    }
  }
  if (opts.count("kappa") && !matrix_given) o.matrix = MatrixKind::kKappa;
  VEIL_CHECK_ARG(!opts.count("mlp") || o.variant == Variant::kMatched, "obfuscatune: --opt mlp applies to variant=matched only");
  o.validate();
  return o;
}

void ObfuscatuneOptions::validate() const {
  VEIL_CHECK_ARG(kappa >= 1.0, "obfuscatune: --opt kappa must be >= 1, got ", kappa);
  VEIL_CHECK_ARG(kappa == 1.0 || matrix == MatrixKind::kKappa, "obfuscatune: --opt kappa applies to matrix=kappa only");
  VEIL_CHECK_ARG(freivalds_rate >= 0.0 && freivalds_rate <= 1.0, "obfuscatune: --opt freivalds must be in [0, 1], got ",
                 freivalds_rate);
  VEIL_CHECK_ARG(freivalds_tol > 0.0 && freivalds_tol < 1.0, "obfuscatune: --opt freivalds_tol must be in (0, 1), got ",
                 freivalds_tol);
}

nlohmann::json ObfuscatuneOptions::to_json() const {
  return {{"matrix", to_string(matrix)},
          {"kappa", kappa},
          {"variant", to_string(variant)},
          {"mlp", variant != Variant::kMatched ? (variant == Variant::kPaper ? "clear" : "full")
                  : mlp_full                   ? "full"
                                               : "permuted"},
          {"freivalds", freivalds_rate},
          {"freivalds_tol", freivalds_tol}};
}

}  // namespace veil::designs::obfuscatune
