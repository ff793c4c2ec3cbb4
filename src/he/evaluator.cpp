#include "veil/he/evaluator.h"

#include <openssl/evp.h>

#include <limits>

#include "he/context_data.h"
#include "he/util/gemm.h"
#include "veil/util/check.h"

namespace veil::he {

uint64_t WeightPlan::id() const { return data_->id; }
size_t WeightPlan::inner() const { return data_->inner; }
size_t WeightPlan::cols() const { return data_->cols; }

namespace {

uint64_t plan_hash(uint64_t parms_hash, size_t inner, size_t cols, const std::vector<int32_t>& w) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  VEIL_CHECK_IO(md != nullptr, "EVP_MD_CTX_new failed");
  uint64_t hdr[3] = {parms_hash, inner, cols};
  uint8_t out[32];
  unsigned int len = 0;
  const bool ok = EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 && EVP_DigestUpdate(md, hdr, sizeof hdr) == 1 &&
                  EVP_DigestUpdate(md, w.data(), w.size() * sizeof(int32_t)) == 1 &&
                  EVP_DigestFinal_ex(md, out, &len) == 1;
  EVP_MD_CTX_free(md);
  VEIL_CHECK_IO(ok, "SHA-256 failed");
  uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h |= static_cast<uint64_t>(out[i]) << (8 * i);
  return h;
}

}  // namespace

WeightPlan Evaluator::make_plan(std::span<const int32_t> w, size_t k, size_t n, bool transpose) const {
  const detail::ContextData& d = ctx_.data();
  const Parameters& p = d.parms;
  VEIL_CHECK_ARG(k >= 1 && n >= 1 && k <= 65535 && n <= 65535, "weight shape ", k, " x ", n, " out of range");
  VEIL_CHECK_ARG(w.size() == k * n, "weights have ", w.size(), " values, expected ", k, " x ", n);
  const size_t inner = transpose ? n : k, cols = transpose ? k : n;
  VEIL_CHECK_ARG(inner <= p.max_inner_dim, "inner dimension ", inner, " exceeds the parameters' ", p.max_inner_dim);
  const int32_t wmax = (int32_t{1} << (p.weight_bits - 1)) - 1;
  std::vector<int32_t> m(inner * cols);
  for (size_t j = 0; j < k; ++j)
    for (size_t c = 0; c < n; ++c) {
      const int32_t v = w[j * n + c];
      VEIL_CHECK_ARG(v >= -wmax && v <= wmax, "weight ", v, " at (", j, ", ", c, ") outside the ", p.weight_bits,
                     "-bit range [", -wmax, ", ", wmax, "]");
      if (transpose) m[c * k + j] = v;
      else m[j * n + c] = v;
    }
  auto data = std::make_shared<detail::PlanData>();
  data->parms_hash = d.hash;
  data->inner = inner;
  data->cols = cols;
  data->id = plan_hash(d.hash, inner, cols, m);
  data->col_sums.assign(cols, 0);
  std::vector<uint64_t> l1(cols, 0);
  for (size_t j = 0; j < inner; ++j)
    for (size_t c = 0; c < cols; ++c) {
      data->col_sums[c] += m[j * cols + c];
      l1[c] += static_cast<uint64_t>(m[j * cols + c] < 0 ? -int64_t{m[j * cols + c]} : m[j * cols + c]);
    }
  for (size_t c = 0; c < cols; ++c)
    VEIL_CHECK_ARG(l1[c] <= p.weight_l1_bound(), "weight column ", c, " has L1 norm ", l1[c],
                   " above the parameters' bound ", p.weight_l1_bound());
  data->packed = detail::pack_weights(m.data(), inner, cols, p.limbs());
  WeightPlan plan;
  plan.data_ = std::move(data);
  return plan;
}

PlanMask Evaluator::make_mask(const WeightPlan& plan, Layout layout) const {
  const detail::ContextData& d = ctx_.data();
  const detail::PlanData& pd = plan.data();
  VEIL_CHECK_ARG(pd.parms_hash == d.hash, "plan belongs to other parameters");
  VEIL_CHECK_ARG(layout == Layout::kColumns || layout == Layout::kRows, "unknown layout ",
                 static_cast<int>(layout));
  const size_t n = d.n, k = pd.inner;
  // Bt (k x N): the public uniform parts as coefficient rows. For kColumns row j is a_j; for kRows
  // row t N + j is row j of the negacyclic matrix of a_t, so that (a_t s)_j = sum_i Bt[tN+j][i] s_i.
  std::vector<uint64_t> bt(k * n);
  std::vector<uint64_t> a(n);
  if (layout == Layout::kColumns) {
    for (size_t j = 0; j < k; ++j) d.crs_poly(j, bt.data() + j * n);
  } else {
    for (size_t t = 0; t * n < k; ++t) {
      d.crs_poly(t, a.data());
      for (size_t j = 0; j < n && t * n + j < k; ++j) {
        uint64_t* row = bt.data() + (t * n + j) * n;
        for (size_t i = 0; i < n; ++i) row[i] = j >= i ? a[j - i] : (0 - a[n + j - i]) & d.q_mask;
      }
    }
  }
  PlanMask m;
  m.parms_hash = d.hash;
  m.plan_id = pd.id;
  m.layout = layout;
  m.inner = static_cast<uint32_t>(k);
  m.cols = static_cast<uint32_t>(pd.cols);
  m.poly_degree = static_cast<uint32_t>(n);
  m.mask.resize(pd.cols * n);
  detail::gemm_mod2k(bt.data(), n, pd.packed, m.mask.data(), d.threads);
  for (auto& v : m.mask) v &= d.q_mask;
  m.col_sums = pd.col_sums;
  return m;
}

EncryptedResult Evaluator::multiply(const EncryptedMatrix& x, const WeightPlan& plan) const {
  const detail::ContextData& d = ctx_.data();
  const detail::PlanData& pd = plan.data();
  VEIL_CHECK_ARG(x.parms_hash == d.hash, "ciphertext parameter hash ", x.parms_hash, " does not match ", d.hash);
  VEIL_CHECK_ARG(pd.parms_hash == d.hash, "plan belongs to other parameters");
  VEIL_CHECK_ARG(x.layout == Layout::kColumns || x.layout == Layout::kRows, "unknown layout ",
                 static_cast<int>(x.layout));
  VEIL_CHECK_ARG(x.cols == pd.inner, "ciphertext has ", x.cols, " columns, the plan expects ", pd.inner);
  VEIL_CHECK_ARG(x.rows >= 1 && x.coeffs.size() == size_t{x.rows} * x.cols, "ciphertext holds ", x.coeffs.size(),
                 " coefficients for ", x.rows, " x ", x.cols);
  for (size_t i = 0; i < x.coeffs.size(); ++i)
    VEIL_CHECK_ARG(x.coeffs[i] <= d.q_mask, "ciphertext coefficient ", i, " is not below q = 2^", d.parms.log_q);
  EncryptedResult r;
  r.parms_hash = d.hash;
  r.plan_id = pd.id;
  r.layout = x.layout;
  r.rows = x.rows;
  r.cols = static_cast<uint32_t>(pd.cols);
  r.coeffs.resize(size_t{x.rows} * pd.cols);
  detail::gemm_mod2k(x.coeffs.data(), x.rows, pd.packed, r.coeffs.data(), d.threads);
  // Modulus switch q -> q' = 2^log_q_down: round(y / 2^drop) mod q'.
  const int drop = d.drop_bits();
  const uint64_t half = uint64_t{1} << (drop - 1);
  const uint64_t down_mask = (uint64_t{1} << d.parms.log_q_down) - 1;
  for (auto& v : r.coeffs) v = (((v & d.q_mask) + half) >> drop) & down_mask;
  return r;
}

}  // namespace veil::he
