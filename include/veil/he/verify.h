// The data owner's check of a worker's products (docs/he.md §9, "Verified products"). The weights
// are public, so the data owner keeps, per plan, secret random vectors r and the products W·r of the
// plan's integer weights with them (computed once from the public weights; inner + cols words per
// vector) and checks:
//   * every decrypted product Y of centred inputs X (Freivalds): Y·r ≡ X·(W·r) (mod p), p = 2^61 − 1,
//     over the exact integers in Precision::kExact (a wrong Y passes with probability ≤ 1/p);
//     in kCompact within the bound the parameters guarantee (|Y·s − X·(W·s)| ≤ cols·e_max, s ∈ {±1}^cols);
//   * every plan mask: its shape, its column sums and scales (SHA-256 of the expected ones), and the
//     random linear combination Σ_c r_c·mask_c ≡ Σ_j (W·r)_j·a_j (mod q) with the public CRS rows a_j.
// A failed check throws VerificationError naming it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "veil/he/ciphertext.h"
#include "veil/he/context.h"

namespace veil::he {

// A result or plan mask that fails the data owner's check (the worker computed something else).
class VerificationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr uint64_t kFreivaldsPrime = (uint64_t{1} << 61) - 1;

class ProductCheck {
 public:
  // For the plan HeMatmulServer::add_weights(w, k, n, transpose) makes: w (k x n, row-major) is
  // quantised per output channel to weight_bits exactly as the worker does; the plan multiplies by
  // the integer matrix M = Q (inner k, cols n) or Qᵀ when transpose. The random vectors come from
  // OpenSSL (RAND_bytes) and never leave this object.
  [[nodiscard]] static ProductCheck for_weights(std::span<const float> w, size_t k, size_t n, bool transpose,
                                                int weight_bits);

  [[nodiscard]] size_t inner() const { return inner_; }
  [[nodiscard]] size_t cols() const { return cols_; }
  // Bytes kept (the random vectors, their products with M and the digest).
  [[nodiscard]] size_t bytes() const;

  // Checks a plan mask received for this plan; throws VerificationError naming the mismatch.
  void check_plan(const Context& ctx, const PlanMask& m) const;
  // Checks a decrypted product y (rows x cols) of the centred inputs x (rows x inner) under `p`;
  // throws VerificationError naming the check and the first row that fails it.
  void check_product(const Parameters& p, std::span<const int64_t> y, std::span<const int32_t> x, size_t rows) const;

 private:
  size_t inner_ = 0, cols_ = 0;
  std::vector<uint64_t> r_p_, wr_p_;  // uniform mod p, and M·r mod p (exact products)
  std::vector<uint64_t> r_q_, wr_q_;  // uniform mod 2^64, and M·r mod 2^64 (the mask check)
  std::vector<int64_t> ws_;           // M·s for the signs s_c = ±1 (the low bit of r_p): compact products
  std::array<uint8_t, 32> digest_{};  // SHA-256 of the scale kind, column sums and scales
};

// SHA-256 of a plan mask's scale kind, column sums and scales (what ProductCheck compares).
[[nodiscard]] std::array<uint8_t, 32> plan_constants_digest(PlanMask::ScaleKind kind, std::span<const int64_t> col_sums,
                                                            std::span<const float> scales);

}  // namespace veil::he
