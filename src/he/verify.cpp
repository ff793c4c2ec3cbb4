#include "veil/he/verify.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <string>

#include "he/context_data.h"
#include "veil/he/quantize.h"
#include "veil/util/check.h"

namespace veil::he {
namespace {

using u128 = unsigned __int128;
constexpr uint64_t kP = kFreivaldsPrime;

uint64_t reduce(u128 v) {
  // v < 2^122: fold the Mersenne prime twice.
  uint64_t lo = static_cast<uint64_t>(v & kP), hi = static_cast<uint64_t>(v >> 61);
  uint64_t s = lo + (hi & kP) + (hi >> 61);
  s = (s & kP) + (s >> 61);
  return s >= kP ? s - kP : s;
}
uint64_t mulmod(uint64_t a, uint64_t b) { return reduce(u128{a} * b); }
uint64_t addmod(uint64_t a, uint64_t b) {
  const uint64_t s = a + b;
  return s >= kP ? s - kP : s;
}
uint64_t to_mod(int64_t v) {
  if (v >= 0) return static_cast<uint64_t>(v) % kP;
  const uint64_t m = static_cast<uint64_t>(-(v + 1)) % kP;  // -(v+1) >= 0 without overflow
  return kP - 1 - m;
}

std::vector<uint64_t> random_words(size_t n) {
  std::vector<uint64_t> v(n);
  if (n == 0) return v;
  VEIL_CHECK_IO(RAND_bytes(reinterpret_cast<unsigned char*>(v.data()), static_cast<int>(n * sizeof(uint64_t))) == 1,
                "OpenSSL RAND_bytes failed");
  return v;
}

}  // namespace

std::array<uint8_t, 32> plan_constants_digest(PlanMask::ScaleKind kind, std::span<const int64_t> col_sums,
                                              std::span<const float> scales) {
  std::array<uint8_t, 32> out{};
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  VEIL_CHECK_IO(c != nullptr, "OpenSSL: out of memory");
  const uint8_t k = static_cast<uint8_t>(kind);
  const uint64_t ns = col_sums.size(), nf = scales.size();
  bool ok = EVP_DigestInit_ex(c, EVP_sha256(), nullptr) == 1 && EVP_DigestUpdate(c, &k, 1) == 1 &&
            EVP_DigestUpdate(c, &ns, sizeof ns) == 1 &&
            EVP_DigestUpdate(c, col_sums.data(), col_sums.size() * sizeof(int64_t)) == 1 &&
            EVP_DigestUpdate(c, &nf, sizeof nf) == 1 &&
            EVP_DigestUpdate(c, scales.data(), scales.size() * sizeof(float)) == 1;
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(c, out.data(), &len) == 1 && len == out.size();
  EVP_MD_CTX_free(c);
  VEIL_CHECK_IO(ok, "OpenSSL SHA-256 failed");
  return out;
}

ProductCheck ProductCheck::for_weights(std::span<const float> w, size_t k, size_t n, bool transpose, int weight_bits) {
  VEIL_CHECK_ARG(k >= 1 && n >= 1 && w.size() == k * n, "weights have ", w.size(), " values, expected ", k, " x ", n);
  const QuantizedColumns q = quantize_columns(w, k, n, weight_bits);
  ProductCheck c;
  c.inner_ = transpose ? n : k;
  c.cols_ = transpose ? k : n;
  // M[j][col] = Q[j][col] (forward) or Q[col][j] (transpose).
  auto m_at = [&](size_t j, size_t col) -> int64_t { return transpose ? q.values[col * n + j] : q.values[j * n + col]; };
  c.r_p_ = random_words(c.cols_);
  for (auto& v : c.r_p_) v = reduce(v);  // uniform up to a 2^-61 bias from the fold
  c.r_q_ = random_words(c.cols_);
  c.wr_p_.assign(c.inner_, 0);
  c.wr_q_.assign(c.inner_, 0);
  c.ws_.assign(c.inner_, 0);
  std::vector<int64_t> col_sums(c.cols_, 0);
  for (size_t j = 0; j < c.inner_; ++j) {
    uint64_t ap = 0, aq = 0;
    int64_t as = 0;
    for (size_t col = 0; col < c.cols_; ++col) {
      const int64_t v = m_at(j, col);
      ap = addmod(ap, mulmod(to_mod(v), c.r_p_[col]));
      aq += static_cast<uint64_t>(v) * c.r_q_[col];
      as += (c.r_p_[col] & 1) ? v : -v;
      col_sums[col] += v;
    }
    c.wr_p_[j] = ap;
    c.wr_q_[j] = aq;
    c.ws_[j] = as;
  }
  c.digest_ = plan_constants_digest(transpose ? PlanMask::ScaleKind::kPerInner : PlanMask::ScaleKind::kPerOutput,
                                    col_sums, q.scale);
  return c;
}

size_t ProductCheck::bytes() const {
  return (r_p_.size() + wr_p_.size() + r_q_.size() + wr_q_.size() + ws_.size()) * sizeof(uint64_t) + digest_.size();
}

void ProductCheck::check_plan(const Context& ctx, const PlanMask& m) const {
  const detail::ContextData& d = ctx.data();
  const size_t n = d.n;
  if (m.inner != inner_ || m.cols != cols_ || m.poly_degree != n || m.mask.size() != size_t{m.cols} * n)
    throw VerificationError("plan mask check: plan " + std::to_string(m.plan_id) + " is " + std::to_string(m.inner) +
                            " x " + std::to_string(m.cols) + ", the weights give " + std::to_string(inner_) + " x " +
                            std::to_string(cols_));
  if (plan_constants_digest(m.scale_kind, m.col_sums, m.scales) != digest_)
    throw VerificationError("plan mask check: the column sums or scales of plan " + std::to_string(m.plan_id) +
                            " are not those of the public weights");
  // Σ_c r_c mask_c against Σ_j (M r)_j Bt_j (mod q), Bt as in Evaluator::make_mask.
  std::vector<uint64_t> lhs(n, 0), rhs(n, 0), a(n);
  for (size_t col = 0; col < cols_; ++col) {
    const uint64_t r = r_q_[col];
    const uint64_t* mc = m.mask.data() + col * n;
    for (size_t i = 0; i < n; ++i) lhs[i] += r * mc[i];
  }
  if (m.layout == Layout::kColumns) {
    for (size_t j = 0; j < inner_; ++j) {
      d.crs_poly(j, a.data());
      const uint64_t v = wr_q_[j];
      for (size_t i = 0; i < n; ++i) rhs[i] += v * a[i];
    }
  } else {
    for (size_t t = 0; t * n < inner_; ++t) {
      d.crs_poly(t, a.data());
      for (size_t j = 0; j < n && t * n + j < inner_; ++j) {
        const uint64_t v = wr_q_[t * n + j];
        for (size_t i = 0; i <= j; ++i) rhs[i] += v * a[j - i];
        for (size_t i = j + 1; i < n; ++i) rhs[i] -= v * a[n + j - i];
      }
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (((lhs[i] - rhs[i]) & d.q_mask) != 0)
      throw VerificationError("plan mask check: the mask of plan " + std::to_string(m.plan_id) +
                              " is not the public CRS times the weights (coefficient " + std::to_string(i) + ")");
}

void ProductCheck::check_product(const Parameters& p, std::span<const int64_t> y, std::span<const int32_t> x,
                                 size_t rows) const {
  if (y.size() != rows * cols_ || x.size() != rows * inner_)
    throw VerificationError("product check: " + std::to_string(y.size()) + " result values and " +
                            std::to_string(x.size()) + " inputs for " + std::to_string(rows) + " rows of a " +
                            std::to_string(inner_) + " x " + std::to_string(cols_) + " plan");
  if (!p.compact()) {
    // Two products below t/2 in magnitude differ by less than t <= 2^60 < p: never 0 mod p.
    if (p.log_t > 60) throw VerificationError("product check: log t = " + std::to_string(p.log_t) + " above 60");
    for (size_t r = 0; r < rows; ++r) {
      uint64_t lhs = 0, rhs = 0;
      const int64_t* yr = y.data() + r * cols_;
      const int32_t* xr = x.data() + r * inner_;
      for (size_t c = 0; c < cols_; ++c) lhs = addmod(lhs, mulmod(to_mod(yr[c]), r_p_[c]));
      for (size_t j = 0; j < inner_; ++j) rhs = addmod(rhs, mulmod(to_mod(xr[j]), wr_p_[j]));
      if (lhs != rhs)
        throw VerificationError("product check (Freivalds, exact): row " + std::to_string(r) +
                                " of the decrypted product is not the inputs times the public weights");
    }
    return;
  }
  // Compact: y = X·M + E with |E| <= e_max per value (docs/he.md §3.1), so |y·s − X·(M·s)| <= cols·e_max.
  const int drop = static_cast<int>(p.log_q - p.log_q_down), log_delta = static_cast<int>(p.log_q - p.log_t);
  const u128 err = (u128{p.noise_bound()} + (drop > 0 ? (u128{1} << (drop - 1)) : 0)) >> log_delta;
  const __int128 tol = static_cast<__int128>((err + 2) * cols_);
  for (size_t r = 0; r < rows; ++r) {
    __int128 lhs = 0, rhs = 0;
    const int64_t* yr = y.data() + r * cols_;
    const int32_t* xr = x.data() + r * inner_;
    for (size_t c = 0; c < cols_; ++c) lhs += (r_p_[c] & 1) ? yr[c] : -yr[c];
    for (size_t j = 0; j < inner_; ++j) rhs += static_cast<__int128>(xr[j]) * ws_[j];
    const __int128 diff = lhs - rhs;
    if (diff > tol || diff < -tol)
      throw VerificationError("product check (compact, within the noise bound): row " + std::to_string(r) +
                              " of the decrypted product is not the inputs times the public weights");
  }
}

}  // namespace veil::he
