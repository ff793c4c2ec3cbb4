// The enclave's source of secret randomness for obfuscatune: every random bit of the obfuscation
// matrices, sign flips, permutations, Freivalds vectors and check coins comes from OpenSSL's
// RAND_bytes (a CSPRNG), turned into tensors with at:: ops. No torch generator (whose state is a
// 64-bit seed) is involved, so a matrix carries as much entropy as its entries, not 64 bits.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace veil::designs::obfuscatune {

class SecretRng {
 public:
  // Uniform doubles in (0, 1), 53 random bits each, float64 tensor of `sizes`.
  [[nodiscard]] at::Tensor uniform(at::IntArrayRef sizes);
  // Standard normal doubles (Box–Muller on uniform()).
  [[nodiscard]] at::Tensor normal(at::IntArrayRef sizes);
  // ±1 as float64, [n].
  [[nodiscard]] at::Tensor signs(std::int64_t n);
  // A uniformly random permutation of 0..n-1 (int64, [n]).
  [[nodiscard]] at::Tensor permutation(std::int64_t n);
  // A uniform double in (0, 1).
  [[nodiscard]] double coin();
};

}  // namespace veil::designs::obfuscatune
