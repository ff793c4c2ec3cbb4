#include "veil/he/parameters.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "he/util/prng.h"
#include "veil/util/check.h"

namespace veil::he {

// The 2024 figures (Bossuat, Cammarota, Chillotti, Curtis, Dai, Gong, Player, Rindal, Sinha, Song,
// "Security Guidelines for Implementing Homomorphic Encryption", ePrint 2024/463): the lattice
// estimator re-run on the HE standard's setting (classical, uniform ternary secret, error sigma
// 3.19), as tabulated by the guidelines' script (gong-cr/FHE-Security-Guidelines). Each entry is one
// to thirteen bits below the 2018 standard's (27, 54, 109, 218, 438, 881): the estimator's attacks
// improved since (docs/he.md §3).
int max_log_q_128(size_t n) {
  switch (n) {
    case 1024: return 26;
    case 2048: return 53;
    case 4096: return 106;
    case 8192: return 214;
    case 16384: return 430;
    case 32768: return 868;
    default: return 0;
  }
}

int max_log_q_128_standard_2018(size_t n) {
  switch (n) {
    case 1024: return 27;
    case 2048: return 54;
    case 4096: return 109;
    case 8192: return 218;
    case 16384: return 438;
    case 32768: return 881;
    default: return 0;
  }
}

namespace {

std::array<uint8_t, 32> default_crs_seed() {
  // Nothing-up-my-sleeve: SHA-256("veil::he CRS v1").
  static const char label[] = "veil::he CRS v1";
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  VEIL_CHECK_IO(EVP_Digest(label, sizeof(label) - 1, out.data(), &len, EVP_sha256(), nullptr) == 1 && len == 32,
                "SHA-256 failed");
  return out;
}

uint64_t weight_max(uint32_t bits) { return (uint64_t{1} << (bits - 1)) - 1; }

// Compact precision: the worker drops e = floor(log2(0.30 * l2)) bits of product units from each
// result, so that the rounding's standard deviation 2^e / sqrt(12) stays below 0.087 * l2 = 0.3 x
// the 8-bit input rounding's 0.29 * ||W_c||_2 (docs/he.md §3.1).
uint32_t compact_result_drop(double l2) {
  uint32_t e = 0;
  while (std::ldexp(1.0, static_cast<int>(e) + 1) <= 0.30 * l2 && e < 40) ++e;
  return e;
}

// Compact: |X W| + (noise + switch rounding) / Delta + 1/2 < t / 2, in q-units.
bool compact_no_wrap(uint64_t product, uint64_t noise, uint32_t log_t, uint32_t log_q, uint32_t log_q_down) {
  using u128 = unsigned __int128;
  const uint32_t log_delta = log_q - log_t, drop = log_q - log_q_down;
  const u128 lhs = (u128{product} << log_delta) + noise + (u128{1} << (drop - 1)) + (u128{1} << (log_delta - 1));
  return lhs < (u128{1} << (log_q - 1));
}

// Fills log_t, log_q_down and log_q from the bounds; returns log_q (may exceed 64: caller checks).
uint32_t derive_moduli(Parameters& p, double l2_min) {
  const uint64_t y = p.product_bound();  // |Y| <= y: need 2^(log_t - 1) > y
  const uint64_t b = p.noise_bound();
  if (p.compact()) {
    const uint32_t d = kCompactDeltaBits;
    const uint32_t e_want = compact_result_drop(l2_min > 0 ? l2_min : static_cast<double>(weight_max(p.weight_bits)));
    for (uint32_t log_t = 2; log_t + d <= 80; ++log_t) {
      const uint32_t e = std::min(e_want, log_t - 2);
      if (log_t + d > 64) return log_t + d;
      if (compact_no_wrap(y, b, log_t, log_t + d, log_t - e)) {
        p.log_t = log_t;
        p.log_q_down = log_t - e;
        return log_t + d;
      }
    }
    return 65;
  }
  uint32_t log_t = 1;
  while ((uint64_t{1} << (log_t - 1)) <= y) ++log_t;
  // Delta = 2^log_delta with B_EW + Delta/8 < Delta/2, i.e. 3 Delta / 8 > B_EW (docs/he.md).
  uint32_t log_delta = 4;
  while (3 * (uint64_t{1} << log_delta) / 8 <= b) ++log_delta;
  p.log_t = log_t;
  p.log_q_down = log_t + 2;
  return log_t + log_delta;
}

// Whether the moduli of p cover weight columns of L1 norm l1 (the conditions of validate()).
bool covers(Parameters p, uint64_t l1) {
  p.weight_l1 = l1;
  const uint64_t y = p.product_bound(), b = p.noise_bound();
  if ((uint64_t{1} << (p.log_t - 1)) <= y) return false;
  if (p.compact()) return compact_no_wrap(y, b, p.log_t, p.log_q, p.log_q_down);
  return 3 * ((uint64_t{1} << (p.log_q - p.log_t)) / 8) > b;
}

}  // namespace

uint64_t Parameters::weight_l1_bound() const {
  return weight_l1 != 0 ? weight_l1 : weight_max(weight_bits) * max_inner_dim;
}

uint64_t Parameters::input_l1_bound() const {
  return input_l1 != 0 ? input_l1 : (uint64_t{1} << (input_bits - 1)) * max_inner_dim;
}

uint64_t Parameters::product_bound() const {
  return std::min((uint64_t{1} << (input_bits - 1)) * weight_l1_bound(), input_l1_bound() * weight_max(weight_bits));
}

uint64_t Parameters::noise_bound() const {
  return static_cast<uint64_t>(detail::kErrorBound) * weight_l1_bound();
}

ShapeBounds weight_bounds(std::span<const int32_t> w, size_t k, size_t n, bool transpose) {
  VEIL_CHECK_ARG(w.size() == k * n, "weights have ", w.size(), " values, expected ", k, " x ", n);
  const size_t cols = transpose ? k : n;
  std::vector<uint64_t> l1(cols, 0);
  std::vector<double> l2(cols, 0);
  for (size_t j = 0; j < k; ++j)
    for (size_t c = 0; c < n; ++c) {
      const int64_t v = w[j * n + c];
      const size_t col = transpose ? j : c;
      l1[col] += static_cast<uint64_t>(v < 0 ? -v : v);
      l2[col] += static_cast<double>(v * v);
    }
  ShapeBounds b;
  b.weight_l1 = 1;
  b.weight_l2_min = 0;
  for (size_t c = 0; c < cols; ++c) {
    b.weight_l1 = std::max(b.weight_l1, l1[c]);
    if (l2[c] > 0) b.weight_l2_min = b.weight_l2_min == 0 ? std::sqrt(l2[c]) : std::min(b.weight_l2_min, std::sqrt(l2[c]));
  }
  return b;
}

Parameters Parameters::for_matmul(int input_bits, int weight_bits, size_t inner_dim, size_t min_poly_degree,
                                  Precision precision, const ShapeBounds& bounds) {
  VEIL_CHECK_ARG(input_bits >= 2 && input_bits <= 16, "input_bits ", input_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(weight_bits >= 2 && weight_bits <= 16, "weight_bits ", weight_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(inner_dim >= 1 && inner_dim <= 65535, "inner dimension ", inner_dim, " outside [1, 65535]");
  VEIL_CHECK_ARG(precision == Precision::kExact || precision == Precision::kCompact, "unknown precision ",
                 static_cast<uint32_t>(precision));
  Parameters p;
  p.input_bits = static_cast<uint32_t>(input_bits);
  p.weight_bits = static_cast<uint32_t>(weight_bits);
  p.max_inner_dim = static_cast<uint32_t>(inner_dim);
  p.precision = static_cast<uint32_t>(precision);
  p.crs_seed = default_crs_seed();
  const uint64_t worst_l1 = weight_max(p.weight_bits) * inner_dim;
  VEIL_CHECK_ARG(bounds.weight_l1 <= worst_l1, "weight L1 bound ", bounds.weight_l1, " exceeds the worst case ",
                 worst_l1, " of ", weight_bits, "-bit weights over ", inner_dim, " inputs");
  if (bounds.weight_l1 != 0 && bounds.weight_l1 < worst_l1) p.weight_l1 = bounds.weight_l1;
  if (bounds.input_l1 != 0 && bounds.input_l1 < p.input_l1_bound()) p.input_l1 = bounds.input_l1;
  const uint32_t log_q = derive_moduli(p, bounds.weight_l2_min);
  VEIL_CHECK_ARG(log_q <= 64, "inputs of ", input_bits, " bits times weights of ", weight_bits,
                 " bits over inner dimension ", inner_dim, " need log2 q = ", log_q,
                 " > 64 (the GEMM word); lower a bit width or split the inner dimension");
  p.log_q = log_q;
  // The largest weight L1 bound these moduli support (binary search on the monotone condition),
  // so that plans whose weights differ a little share one parameter set.
  if (p.weight_l1 != 0) {
    uint64_t lo = p.weight_l1, hi = worst_l1;
    if (covers(p, hi)) {
      p.weight_l1 = 0;
    } else {
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        (covers(p, mid) ? lo : hi) = mid;
      }
      p.weight_l1 = lo;
    }
  }
  for (size_t n = 1024; n <= 32768; n *= 2) {
    if (n >= min_poly_degree && max_log_q_128(n) >= static_cast<int>(log_q)) {
      p.poly_degree = static_cast<uint32_t>(n);
      break;
    }
  }
  VEIL_CHECK_ARG(p.poly_degree != 0, "no ring dimension >= ", min_poly_degree, " is 128-bit secure for log2 q = ",
                 log_q);
  p.validate();
  return p;
}

Parameters Parameters::custom(uint32_t poly_degree, uint32_t log_q, int input_bits, int weight_bits,
                              size_t inner_dim, bool allow_insecure) {
  VEIL_CHECK_ARG(input_bits >= 2 && input_bits <= 16, "input_bits ", input_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(weight_bits >= 2 && weight_bits <= 16, "weight_bits ", weight_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(inner_dim >= 1 && inner_dim <= 65535, "inner dimension ", inner_dim, " outside [1, 65535]");
  Parameters p;
  p.poly_degree = poly_degree;
  p.input_bits = static_cast<uint32_t>(input_bits);
  p.weight_bits = static_cast<uint32_t>(weight_bits);
  p.max_inner_dim = static_cast<uint32_t>(inner_dim);
  p.crs_seed = default_crs_seed();
  p.allow_insecure = allow_insecure;
  (void)derive_moduli(p, 0);
  p.log_q = log_q;
  p.validate();
  return p;
}

void Parameters::validate() const {
  VEIL_CHECK_ARG(poly_degree >= 16 && poly_degree <= 32768 && (poly_degree & (poly_degree - 1)) == 0,
                 "poly_degree ", poly_degree, " is not a power of two in [16, 32768]");
  VEIL_CHECK_ARG(input_bits >= 2 && input_bits <= 16, "input_bits ", input_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(weight_bits >= 2 && weight_bits <= 16, "weight_bits ", weight_bits, " outside [2, 16]");
  VEIL_CHECK_ARG(max_inner_dim >= 1 && max_inner_dim <= 65535, "max_inner_dim ", max_inner_dim,
                 " outside [1, 65535]");
  VEIL_CHECK_ARG(precision <= 1, "unknown precision ", precision, " (0 exact, 1 compact)");
  VEIL_CHECK_ARG(weight_l1 <= weight_max(weight_bits) * max_inner_dim, "weight_l1 ", weight_l1,
                 " exceeds the worst case W_max * max_inner_dim");
  VEIL_CHECK_ARG(input_l1 <= (uint64_t{1} << (input_bits - 1)) * max_inner_dim, "input_l1 ", input_l1,
                 " exceeds the worst case 2^(b-1) * max_inner_dim");
  VEIL_CHECK_ARG(log_q >= 8 && log_q <= 64, "log_q ", log_q, " outside [8, 64]");
  VEIL_CHECK_ARG(log_t >= 2 && log_t < log_q && uint64_t{1} << (log_t - 1) > product_bound(), "log_t ", log_t,
                 " cannot hold products up to ", product_bound());
  if (compact()) {
    VEIL_CHECK_ARG(log_q - log_t >= 1, "compact precision needs Delta >= 2");
    VEIL_CHECK_ARG(log_q_down >= 2 && log_q_down <= log_t, "log_q_down ", log_q_down, " outside [2, log_t = ",
                   log_t, "] in compact precision");
    VEIL_CHECK_ARG(compact_no_wrap(product_bound(), noise_bound(), log_t, log_q, log_q_down), "log_t ", log_t,
                   " cannot hold products up to ", product_bound(), " plus the noise and rounding (log_q ", log_q,
                   ", log_q_down ", log_q_down, "): results could wrap around");
  } else {
    VEIL_CHECK_ARG(log_q_down == log_t + 2, "log_q_down ", log_q_down, " must be log_t + 2 = ", log_t + 2);
    VEIL_CHECK_ARG(log_q >= log_q_down + 1, "log_q ", log_q, " leaves no room above log_q_down ", log_q_down);
    const uint64_t delta = uint64_t{1} << (log_q - log_t);
    VEIL_CHECK_ARG(3 * (delta / 8) > noise_bound(), "noise bound ", noise_bound(), " exceeds 3/8 of Delta = 2^",
                   log_q - log_t, ": decryption would not be exact (log_q ", log_q, " too small)");
  }
  if (!allow_insecure) {
    const int max_q = max_log_q_128(poly_degree);
    VEIL_CHECK_ARG(max_q > 0 && static_cast<int>(log_q) <= max_q, "N = ", poly_degree, ", log2 q = ", log_q,
                   " is below 128-bit security (the 2024 lattice estimates allow log2 q <= ", max_q,
                   " for this N); refusing without the test-only allow_insecure flag");
  }
}

uint64_t Parameters::hash() const {
  uint8_t buf[96] = {};
  size_t o = 0;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) buf[o++] = static_cast<uint8_t>(v >> (8 * i));
  };
  put32(poly_degree);
  put32(log_q);
  put32(log_t);
  put32(log_q_down);
  put32(input_bits);
  put32(weight_bits);
  put32(max_inner_dim);
  buf[o++] = allow_insecure ? 1 : 0;
  for (uint8_t b : crs_seed) buf[o++] = b;
  put32(precision);
  put32(static_cast<uint32_t>(weight_l1));
  put32(static_cast<uint32_t>(weight_l1 >> 32));
  put32(input_l1);
  uint8_t md[32];
  unsigned int len = 0;
  VEIL_CHECK_IO(EVP_Digest(buf, o, md, &len, EVP_sha256(), nullptr) == 1, "SHA-256 failed");
  uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h |= static_cast<uint64_t>(md[i]) << (8 * i);
  return h;
}

std::string Parameters::to_string() const {
  std::ostringstream os;
  os << "N=" << poly_degree << " log2q=" << log_q << " log2t=" << log_t << " log2q'=" << log_q_down
     << " input_bits=" << input_bits << " weight_bits=" << weight_bits << " k<=" << max_inner_dim
     << (compact() ? " compact" : "") << (weight_l1 ? " |W_c|_1<=" + std::to_string(weight_l1) : std::string())
     << (input_l1 ? " |x_r|_1<=" + std::to_string(input_l1) : std::string()) << (allow_insecure ? " INSECURE(test)" : "");
  return os.str();
}

}  // namespace veil::he
