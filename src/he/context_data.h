// Internal: what a Context precomputes and the helpers shared by the roles.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "he/util/gemm.h"
#include "he/util/ntt.h"
#include "he/util/prng.h"
#include "veil/he/parameters.h"

namespace veil::he::detail {

struct ContextData {
  Parameters parms;
  uint64_t hash = 0;
  size_t n = 0;
  uint64_t q_mask = 0;   // 2^log_q - 1
  int threads = 1;
  NegacyclicMultiplier mul;

  explicit ContextData(const Parameters& p);
  // CRS uniform polynomial number `index` (N coefficients mod 2^log_q), expanded from the seed.
  void crs_poly(uint64_t index, uint64_t* out) const;
  // CRS polynomial `index` < max_inner_dim in two-prime NTT form (2N words), from a table computed
  // on first use by the encrypting side (max_inner_dim x 2N x 8 bytes: 268 MB at 8192 x 2048).
  // Public data: caching it saves the expansion and the forward transforms of every encryption.
  [[nodiscard]] const uint64_t* crs_ntt(uint64_t index) const;
  // Delta = q / t.
  [[nodiscard]] uint64_t delta() const { return uint64_t{1} << (parms.log_q - parms.log_t); }
  // Bits dropped by the switch to q' = 2^log_q_down.
  [[nodiscard]] int drop_bits() const { return static_cast<int>(parms.log_q - parms.log_q_down); }

 private:
  mutable std::once_flag crs_once_;
  mutable std::vector<uint64_t> crs_ntt_;
};

struct PlanData {
  uint64_t id = 0;
  uint64_t parms_hash = 0;
  size_t inner = 0, cols = 0;
  PackedWeights packed;
  std::vector<int64_t> col_sums;
};

}  // namespace veil::he::detail
