// The options of the obfuscatune design (`--opt key=value`), parsed and validated in one place.
//
//   matrix=kronecker|orthogonal|kappa|          the random matrices (default kronecker; see
//          gaussian|hadamard                    transform.h and docs/designs/obfuscatune.md)
//   kappa=K                                     condition number for matrix=kappa (>= 1; giving
//                                               kappa alone selects matrix=kappa)
//   variant=matched|full|paper                  matched (default): the inputs of q/k/v and MLP-in
//                                               and the outputs of o and MLP-out as in full; q/k
//                                               under one per-head R_qk (Q·Kᵀ unchanged), v under
//                                               R_v absorbed by o's weight, the MLP's inner width
//                                               under a permutation (with signs where they
//                                               commute) absorbed by down's weight, so the enclave
//                                               restores nothing there (matched.h);
//                                               full: both the input and the output of every
//                                               product the worker runs are obfuscated and
//                                               restored in the enclave;
//                                               paper: the paper's scheme — q/k/v and MLP-in get
//                                               X·R_a only (the worker sees their outputs), the
//                                               attention output and MLP-out get W·R_b only (the
//                                               worker sees their inputs)
//   mlp=permuted|full                           matched only: the MLP's inner width under the
//                                               permutation (default), or under fresh R_out/R_in
//                                               restored and applied in the enclave as in full
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
  Variant variant = Variant::kMatched;
  bool mlp_full = false;  // mlp=full (matched only)
  double freivalds_rate = 0.0;
  double freivalds_tol = 1e-4;

  // Throws std::invalid_argument naming the key for an unknown key or a bad value.
  [[nodiscard]] static ObfuscatuneOptions parse(const std::map<std::string, std::string>& opts);
  void validate() const;  // throws std::invalid_argument
  [[nodiscard]] nlohmann::json to_json() const;
};

}  // namespace veil::designs::obfuscatune
