// veil::he parameters: ring dimension N, ciphertext modulus q = 2^log_q, plaintext modulus
// t = 2^log_t, download modulus q' = 2^log_q_down, and the bounds they were derived for.
// Light and hashable (as SEAL's EncryptionParameters): the 64-bit hash tags every wire object.
// See docs/he.md for the derivation and the noise proof.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace veil::he {

// What decryption returns (docs/he.md §3, §3.1):
//   kExact    the integer product X·W exactly (worst-case noise bound below Δ/2, results at log t + 2 bits);
//   kCompact  X·W plus a small error: Δ = 2^6 puts the RLWE noise's standard deviation at ~0.17 of the
//             input quantisation error's, and results are rounded to fewer bits by the worker (the
//             rounding's standard deviation ~0.3 of it). Still never wraps around: t bounds |X·W| plus
//             every error for certain.
enum class Precision : uint32_t { kExact = 0, kCompact = 1 };

// Δ = 2^kCompactDeltaBits in compact precision.
inline constexpr uint32_t kCompactDeltaBits = 6;

// 128-bit classical security for a uniform ternary secret and error sigma 3.2: the largest log2 q
// for ring dimension n by the current lattice estimates (the 2024 HE security guidelines, ePrint
// 2024/463: 26, 53, 106, 214, 430, 868 for n = 1024 ... 32768), or 0 when n is not in the table.
// This is the bound every party enforces (Parameters::validate, he.setup, the data owner's plan check).
[[nodiscard]] int max_log_q_128(size_t n);
// The same bound from the 2018 HomomorphicEncryption.org standard (Table 1: 27, 54, 109, 218, 438,
// 881), kept for comparison in reports; never used to accept parameters.
[[nodiscard]] int max_log_q_128_standard_2018(size_t n);

// Tighter bounds known from the data (the worker knows its weights), for per-shape parameters.
struct ShapeBounds {
  uint64_t weight_l1 = 0;     // max over columns of sum_j |W[j][c]|; 0: W_max * inner_dim
  uint32_t input_l1 = 0;      // max over rows of sum_j |x[r][j]| (e.g. 1 for a one-hot); 0: none
  double weight_l2_min = 0;   // compact: min over non-zero columns of ||W_c||_2 (sets the result bits); 0: W_max
};

struct Parameters {
  uint32_t poly_degree = 0;     // N (power of two)
  uint32_t log_q = 0;           // q = 2^log_q, <= 64
  uint32_t log_t = 0;           // t = 2^log_t: products live in [-t/2, t/2)
  uint32_t log_q_down = 0;      // results are switched to 2^log_q_down before download
  uint32_t input_bits = 0;      // activations are unsigned input_bits-bit integers
  uint32_t weight_bits = 0;     // weights are signed, |w| <= 2^(weight_bits-1) - 1
  uint32_t max_inner_dim = 0;   // k of the products the parameters cover
  std::array<uint8_t, 32> crs_seed{};  // public seed of the shared uniform polynomials
  bool allow_insecure = false;  // test-only: skip the security table check
  uint32_t precision = 0;       // Precision (kExact or kCompact)
  uint64_t weight_l1 = 0;       // bound on sum_j |W[j][c]| of every weight column; 0: W_max * max_inner_dim
  uint32_t input_l1 = 0;        // bound on sum_j |x[r][j]| of every centred input row; 0: 2^(b-1) * max_inner_dim


  // Derives the smallest secure parameters for products of input_bits x weight_bits integers
  // over an inner dimension of inner_dim (docs/he.md, "Parameter selection"). min_poly_degree
  // raises N (more rows per ciphertext). The CRS seed defaults to a fixed public value.
  // Throws std::invalid_argument if the bit widths are outside [2, 16], inner_dim outside
  // [1, 65535], or the needed modulus exceeds 2^64 or every table entry.
  // `precision` and `bounds` (docs/he.md §3.1): kCompact chooses Δ and the result bits from the
  // errors' standard deviations; bounds tighten T and Δ to the actual weights. The stored
  // weight_l1 is the largest bound the derived moduli support (so plans of similar weights share
  // one parameter set), or 0 when that is the worst case anyway.
  [[nodiscard]] static Parameters for_matmul(int input_bits, int weight_bits, size_t inner_dim,
                                             size_t min_poly_degree = 0, Precision precision = Precision::kExact,
                                             const ShapeBounds& bounds = {});

  // Test-only: explicit parameters; validate() still runs in Context unless allow_insecure is set.
  [[nodiscard]] static Parameters custom(uint32_t poly_degree, uint32_t log_q, int input_bits, int weight_bits,
                                         size_t inner_dim, bool allow_insecure);

  // Checks internal consistency, the noise bound and (unless allow_insecure) the security table.
  // Throws std::invalid_argument naming the failed condition.
  void validate() const;

  // Worst-case |sum_j W[j][c] e_j| for the covered shapes (errors clipped at 19): 19 * weight_l1_bound().
  [[nodiscard]] uint64_t noise_bound() const;
  // Worst-case |X W| with X centred in [-2^(b-1), 2^(b-1)), |W| <= 2^(bw-1) - 1 and the L1 bounds:
  // min(2^(b-1) * weight_l1_bound(), input_l1_bound() * W_max).
  [[nodiscard]] uint64_t product_bound() const;
  // The effective L1 bounds (the stored ones, or the worst case when 0).
  [[nodiscard]] uint64_t weight_l1_bound() const;
  [[nodiscard]] uint64_t input_l1_bound() const;
  [[nodiscard]] bool compact() const { return precision == static_cast<uint32_t>(Precision::kCompact); }
  // Number of bytes a ciphertext coefficient occupies in the GEMM (ceil(log_q / 8)).
  [[nodiscard]] int limbs() const { return static_cast<int>((log_q + 7) / 8); }

  // SHA-256 of the canonical encoding, truncated to 64 bits.
  [[nodiscard]] uint64_t hash() const;
  [[nodiscard]] std::string to_string() const;
  bool operator==(const Parameters&) const = default;
};

// The bounds of an integer weight matrix (k x n row-major) as a plan uses it: its columns are W's
// columns, or W's rows when transpose (the plan multiplies by W^T). For Parameters::for_matmul.
[[nodiscard]] ShapeBounds weight_bounds(std::span<const int32_t> w, size_t k, size_t n, bool transpose);

}  // namespace veil::he
