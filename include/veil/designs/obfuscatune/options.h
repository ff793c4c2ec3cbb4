// The options of the obfuscatune design (`--opt key=value`), parsed and validated in one place.
//
//   matrix=kronecker|orthogonal|kappa|          the random matrices (default kronecker; see
//          gaussian|hadamard                    transform.h and docs/designs/obfuscatune.md)
//   kappa=K                                     condition number for matrix=kappa (>= 1; giving
//                                               kappa alone selects matrix=kappa)
//   variant=full|paper                          full (default): both the input and the output of
//                                               every product the worker runs are obfuscated;
//                                               paper: the paper's scheme — q/k/v and MLP-in get
//                                               X·R_a only (the worker sees their outputs), the
//                                               attention output and MLP-out get W·R_b only (the
//                                               worker sees their inputs)
//   freivalds=P                                 probability in [0, 1] that a worker result is
//                                               checked with Freivalds' algorithm (default 0)
//   freivalds_tol=T                             relative tolerance of a check (default 1e-4)
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "veil/designs/obfuscatune/transform.h"

namespace veil::designs::obfuscatune {

enum class Variant { kFull, kPaper, kMatched };
[[nodiscard]] const char* to_string(Variant v);

struct ObfuscatuneOptions {
  MatrixKind matrix = MatrixKind::kKronecker;
  double kappa = 1.0;
  Variant variant = Variant::kFull;
  double freivalds_rate = 0.0;
  double freivalds_tol = 1e-4;

  // Throws std::invalid_argument naming the key for an unknown key or a bad value.
  [[nodiscard]] static ObfuscatuneOptions parse(const std::map<std::string, std::string>& opts);
  void validate() const;  // throws std::invalid_argument
  [[nodiscard]] nlohmann::json to_json() const;
};

}  // namespace veil::designs::obfuscatune
