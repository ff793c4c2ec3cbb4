#include "veil/designs/obfuscatune/kronecker.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "veil/designs/obfuscatune/secret_rng.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

at::Tensor haar(std::int64_t d, SecretRng& rng) {
  auto [q, r] = at::linalg_qr(rng.normal({d, d}));
  return q.mul_(at::sign(r.diagonal()).unsqueeze(0)).contiguous();
}

}  // namespace

namespace {

// Balanced two-factor split: exact when d has a divisor ≥ √d / 2, else ⌊√d⌋ × ⌊d / ⌊√d⌋⌋.
std::vector<std::int64_t> two_factors(std::int64_t d) {
  auto root = static_cast<std::int64_t>(std::sqrt(static_cast<double>(d)));
  while ((root + 1) * (root + 1) <= d) ++root;
  while (root * root > d) --root;
  std::int64_t b1 = 1;
  for (std::int64_t b = root; b >= 1; --b)
    if (d % b == 0) {
      b1 = b;
      break;
    }
  if (4 * b1 * b1 >= d) return {b1, d / b1};
  return {root, d / root};
}

}  // namespace

std::vector<std::int64_t> KroneckerTransform::factor(std::int64_t dim) {
  if (dim > kThreeFactorsAbove) {
    auto c = static_cast<std::int64_t>(std::cbrt(static_cast<double>(dim)));
    while ((c + 1) * (c + 1) * (c + 1) <= dim) ++c;
    for (std::int64_t a = c; a >= 2 && 8 * a * a * a >= dim; --a) {
      if (dim % a) continue;
      auto rest = two_factors(dim / a);
      if (rest[0] * rest[1] == dim / a) return {a, rest[0], rest[1]};
      break;
    }
  }
  return two_factors(dim);
}

KroneckerTransform KroneckerTransform::draw(std::int64_t dim, SecretRng& rng) {
  VEIL_CHECK_ARG(dim >= 1, "obfuscatune: transform size must be positive, got ", dim);
  KroneckerTransform t;
  t.dim_ = dim;
  t.factors_ = factor(dim);
  std::int64_t p = 1;
  for (auto f : t.factors_) p *= f;
  std::vector<std::int64_t> blocks = t.factors_;
  if (dim > p) blocks.push_back(dim - p);
  for (auto b : blocks) {
    at::Tensor q = haar(b, rng).contiguous();
    at::Tensor qt = q.t().contiguous();
    const double* a = q.data_ptr<double>();
    const double* at_ = qt.data_ptr<double>();
    t.q64_.emplace_back(a, a + b * b);
    t.qt64_.emplace_back(at_, at_ + b * b);
    t.q32_.emplace_back(a, a + b * b);
    t.qt32_.emplace_back(at_, at_ + b * b);
  }
  auto vec_i = [](const at::Tensor& x) {
    at::Tensor c = x.to(at::kLong).contiguous();
    return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
  };
  auto vec_d = [](const at::Tensor& x) {
    at::Tensor c = x.to(at::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  at::Tensor p1 = rng.permutation(dim), p2 = rng.permutation(dim);
  at::Tensor s1 = rng.signs(dim), s2 = rng.signs(dim);
  at::Tensor p1_inv = at::argsort(p1), p2_inv = at::argsort(p2);
  // forward:  u[j] = x[p1[j]]·s1[j];  z = u·(Q₁ ⊗ … ⊗ Q_m ⊕ Q_r);  y[k] = z[p2[k]]·s2[k]
  t.fwd_in_ = {vec_i(p1), vec_d(s1)};
  t.fwd_out_ = {vec_i(p2), vec_d(s2)};
  // inverse:  z[L] = y[p2⁻¹[L]]·s2[p2⁻¹[L]];  u = z·(…)ᵀ;  x[i] = u[p1⁻¹[i]]·s1[p1⁻¹[i]]
  t.inv_in_ = {vec_i(p2_inv), vec_d(s2.index_select(0, p2_inv))};
  t.inv_out_ = {vec_i(p1_inv), vec_d(s1.index_select(0, p1_inv))};
  return t;
}

// The per-row kernels are built at -O3 whatever the build type: GCC 12's -O2 only vectorises loops
// whose trip count is a known multiple of the vector width, and these (factor sizes 8–32, digit
// strides 1–1024) are not.
#pragma GCC push_options
#pragma GCC optimize("O3")

namespace {

// C[:, j..] = A·B[:, j..] for the columns that fill tiles of W vectors of VB bytes (register tiles
// of 4 rows × W vectors; GCC vector extensions, so AVX-512/AVX2 FMA under -march=native); returns
// the first column left.
template <typename T, int VB, int W>
std::int64_t gemm_columns(const T* __restrict a, std::int64_t lda, const T* __restrict b, std::int64_t ldb,
                          T* __restrict c, std::int64_t ldc, std::int64_t m, std::int64_t n, std::int64_t k,
                          std::int64_t j) {
  typedef T V __attribute__((vector_size(VB), __may_alias__, aligned(sizeof(T))));
  constexpr std::int64_t L = VB / sizeof(T);
  auto load = [](const T* p) { return *reinterpret_cast<const V*>(p); };
  for (; j + W * L <= n; j += W * L) {
    std::int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      V acc[4][W] = {};
      const T* a0 = a + i * lda;
      for (std::int64_t p = 0; p < k; ++p) {
        V bv[W];
        for (int w = 0; w < W; ++w) bv[w] = load(b + p * ldb + j + w * L);
        for (int r = 0; r < 4; ++r) {
          const T x = a0[r * lda + p];
          for (int w = 0; w < W; ++w) acc[r][w] += x * bv[w];
        }
      }
      for (int r = 0; r < 4; ++r)
        for (int w = 0; w < W; ++w) *reinterpret_cast<V*>(c + (i + r) * ldc + j + w * L) = acc[r][w];
    }
    for (; i < m; ++i) {
      V acc[W] = {};
      for (std::int64_t p = 0; p < k; ++p) {
        const T x = a[i * lda + p];
        for (int w = 0; w < W; ++w) acc[w] += x * load(b + p * ldb + j + w * L);
      }
      for (int w = 0; w < W; ++w) *reinterpret_cast<V*>(c + i * ldc + j + w * L) = acc[w];
    }
  }
  return j;
}

// C[M, N] = A[M, K]·B[K, N], all row-major with leading dimensions, for the small products of
// the factors (M, N, K from 8 to a few hundred): wide tiles first, narrower vectors for the
// remaining columns (a factor of 24 or 12), scalar for the last few.
template <typename T>
void small_gemm(const T* __restrict a, std::int64_t lda, const T* __restrict b, std::int64_t ldb, T* __restrict c,
                std::int64_t ldc, std::int64_t m, std::int64_t n, std::int64_t k) {
  std::int64_t j = 0;
#if defined(__AVX512F__)
  j = gemm_columns<T, 64, 2>(a, lda, b, ldb, c, ldc, m, n, k, j);
  j = gemm_columns<T, 64, 1>(a, lda, b, ldb, c, ldc, m, n, k, j);
#else
  j = gemm_columns<T, 32, 2>(a, lda, b, ldb, c, ldc, m, n, k, j);
#endif
  j = gemm_columns<T, 32, 1>(a, lda, b, ldb, c, ldc, m, n, k, j);
  for (; j < n; ++j)
    for (std::int64_t i = 0; i < m; ++i) {
      T acc = 0;
      for (std::int64_t p = 0; p < k; ++p) acc += a[i * lda + p] * b[p * ldb + j];
      c[i * ldc + j] = acc;
    }
}

// out[o, j, t] = Σ_i in[o, i, t]·q[i, j] over [outer, f, s] row-major; q is f×f row-major and qt
// its transpose.
template <typename T>
void along_digit(const T* in, T* out, const T* q, const T* qt, std::int64_t outer, std::int64_t f, std::int64_t s) {
  if (s == 1) {  // [outer, f]·q
    small_gemm(in, f, q, f, out, f, outer, f, f);
    return;
  }
  for (std::int64_t o = 0; o < outer; ++o)  // qᵀ·[f, s] per outer index
    small_gemm(qt, f, in + o * f * s, s, out + o * f * s, s, f, s, f);
}

template <typename T>
void gather(const T* __restrict in, T* __restrict out, const std::int64_t* __restrict idx, const T* __restrict sign,
            std::int64_t d) {
  for (std::int64_t k = 0; k < d; ++k) out[k] = in[idx[k]] * sign[k];
}

}  // namespace

template <typename T>
void KroneckerTransform::apply_rows(const T* src, std::int64_t ld, T* dst, std::int64_t rows, bool inverse) const {
  const Gather& gin = inverse ? inv_in_ : fwd_in_;
  const Gather& gout = inverse ? inv_out_ : fwd_out_;
  // The inverse multiplies by the transposed factors.
  const auto& q_all = [&]() -> const std::vector<std::vector<T>>& {
    if constexpr (std::is_same_v<T, float>) return q32_;
    else return q64_;
  }();
  const auto& qt_all = [&]() -> const std::vector<std::vector<T>>& {
    if constexpr (std::is_same_v<T, float>) return qt32_;
    else return qt64_;
  }();
  const auto& qs = inverse ? qt_all : q_all;
  const auto& qts = inverse ? q_all : qt_all;
  const std::int64_t d = dim_;
  const auto m = static_cast<std::int64_t>(factors_.size());
  std::int64_t p = 1;
  for (auto f : factors_) p *= f;
  std::vector<T> sign_in(gin.sign.begin(), gin.sign.end()), sign_out(gout.sign.begin(), gout.sign.end());
  at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> buf(2 * d);
    T* a = buf.data();
    T* b = buf.data() + d;
    for (std::int64_t r = begin; r < end; ++r) {
      gather(src + r * ld, a, gin.idx.data(), sign_in.data(), d);
      std::int64_t s = p;
      for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t f = factors_[k];
        s /= f;
        along_digit(a, b, qs[k].data(), qts[k].data(), p / (f * s), f, s);
        std::swap(a, b);
      }
      if (p < d) {
        along_digit(a + p, b + p, qs[m].data(), qts[m].data(), 1, d - p, 1);
        std::copy(b + p, b + d, a + p);
      }
      gather(a, dst + r * d, gout.idx.data(), sign_out.data(), d);
    }
  });
}

#pragma GCC pop_options

at::Tensor KroneckerTransform::apply(const at::Tensor& x, bool inverse) const {
  VEIL_CHECK_ARG(x.size(-1) == dim_, "obfuscatune: transform of size ", dim_, " applied to a last dimension of ",
                 x.size(-1));
  VEIL_CHECK_ARG(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
                 "obfuscatune: transforms apply to float32 or float64");
  at::Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, dim_});
  if (x2.stride(1) != 1 || x2.stride(0) < dim_) x2 = x2.contiguous();
  const std::int64_t n = x2.size(0);
  at::Tensor y = at::empty({n, dim_}, x2.options());
  if (x2.scalar_type() == at::kFloat)
    apply_rows(x2.data_ptr<float>(), x2.stride(0), y.data_ptr<float>(), n, inverse);
  else
    apply_rows(x2.data_ptr<double>(), x2.stride(0), y.data_ptr<double>(), n, inverse);
  return x.dim() == 2 ? y : y.view(x.sizes());
}

at::Tensor KroneckerTransform::reference_matrix() const {
  auto opts = at::TensorOptions().dtype(at::kDouble);
  auto factor_matrix = [&](std::size_t i) {
    const auto b = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(q64_[i].size()))));
    return at::from_blob(const_cast<double*>(q64_[i].data()), {b, b}, opts).clone();
  };
  at::Tensor k = factor_matrix(0);
  for (std::size_t i = 1; i < factors_.size(); ++i) k = at::kron(k, factor_matrix(i));
  if (q64_.size() > factors_.size()) {  // the remainder block
    at::Tensor r = factor_matrix(factors_.size());
    at::Tensor full = at::zeros({dim_, dim_}, opts);
    full.narrow(0, 0, k.size(0)).narrow(1, 0, k.size(1)).copy_(k);
    full.narrow(0, k.size(0), r.size(0)).narrow(1, k.size(1), r.size(1)).copy_(r);
    k = full;
  }
  // x·A gathers u[j] = x[p1[j]]·s1[j]: A[p1[j], j] = s1[j]; likewise B[p2[k], k] = s2[k].
  auto gather_matrix = [&](const Gather& g) {
    at::Tensor m = at::zeros({dim_, dim_}, opts);
    at::Tensor rows = at::tensor(g.idx, at::kLong), cols = at::arange(dim_, at::kLong);
    m.index_put_({rows, cols}, at::tensor(g.sign, opts));
    return m;
  };
  return gather_matrix(fwd_in_).mm(k).mm(gather_matrix(fwd_out_));
}

std::int64_t KroneckerTransform::secret_bytes() const {
  std::int64_t n = 0;
  for (const auto& q : q32_) n += static_cast<std::int64_t>(q.size()) * 4;
  return n + dim_ * 2 * (8 + 1);  // two permutations (int64) and two sign vectors (one bit each, as bytes)
}

}  // namespace veil::designs::obfuscatune
