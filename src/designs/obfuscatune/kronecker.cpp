#include "veil/designs/obfuscatune/kronecker.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>
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

// The Kronecker core on the first ∏b columns of u, then the remainder block. Forward takes the
// logical layout (digits 1..m) and leaves the result in the storage layout (digits 2..m, 1):
// each step multiplies the last digit by its factor and rotates it to the front, skipping the
// last rotation. Inverse undoes exactly that, starting from the storage layout.
at::Tensor run_core(const at::Tensor& u, const std::vector<std::int64_t>& b, const std::vector<at::Tensor>& q,
                    const at::Tensor& q_rest, bool inverse) {
  const auto dt = u.scalar_type();
  const std::int64_t n = u.size(0), d = u.size(1);
  std::int64_t p = 1;
  for (auto f : b) p *= f;
  const auto m = static_cast<int>(b.size());
  at::Tensor y = p < d ? u.narrow(1, 0, p) : u;
  if (!inverse) {
    for (int k = m - 1; k >= 0; --k) {
      y = y.reshape({n * (p / b[k]), b[k]}).mm(q[k].to(dt));
      if (k > 0) y = y.view({n, p / b[k], b[k]}).transpose(1, 2).contiguous();
    }
  } else {
    for (int k = 0; k < m; ++k) {
      y = y.reshape({n * (p / b[k]), b[k]}).mm(q[k].to(dt).t());
      if (k + 1 < m) y = y.view({n, b[k + 1], p / b[k + 1]}).transpose(1, 2).contiguous();
    }
  }
  y = y.view({n, p});
  if (p == d) return y;
  at::Tensor tail = u.narrow(1, p, d - p).mm(inverse ? q_rest.to(dt).t() : q_rest.to(dt));
  return at::cat({y, tail}, 1);
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
  for (auto f : t.factors_) {
    p *= f;
    t.q_.push_back(haar(f, rng).to(at::kFloat).contiguous());
  }
  if (dim > p) t.q_rest_ = haar(dim - p, rng).to(at::kFloat).contiguous();
  at::Tensor p1 = rng.permutation(dim), p2 = rng.permutation(dim);
  at::Tensor s1 = rng.signs(dim), s2 = rng.signs(dim);
  // Where the core stores logical index L: run it with identity factors on the indices.
  std::vector<at::Tensor> eyes;
  for (auto f : t.factors_) eyes.push_back(at::eye(f, at::kDouble));
  at::Tensor rest_eye = dim > p ? at::eye(dim - p, at::kDouble) : at::Tensor();
  at::Tensor storage_inv =
      run_core(at::arange(dim, at::kDouble).unsqueeze(0), t.factors_, eyes, rest_eye, false).squeeze(0).to(at::kLong);
  at::Tensor storage = at::argsort(storage_inv), p1_inv = at::argsort(p1), p2_inv = at::argsort(p2);
  // forward:  u[j] = x[p1[j]]·s1[j];  z = core(u);  y[k] = z[p2[k]]·s2[k]
  t.fwd_in_ = {p1, s1};
  t.fwd_out_ = {storage.index_select(0, p2), s2};
  // inverse:  z[L] = y[p2⁻¹[L]]·s2[p2⁻¹[L]] (written in the core's storage layout);
  //           u = core⁻¹(z);  x[i] = u[p1⁻¹[i]]·s1[p1⁻¹[i]]
  at::Tensor in_idx = p2_inv.index_select(0, storage_inv);
  t.inv_in_ = {in_idx, s2.index_select(0, in_idx)};
  t.inv_out_ = {p1_inv, s1.index_select(0, p1_inv)};
  for (Gather* g : {&t.fwd_in_, &t.fwd_out_, &t.inv_in_, &t.inv_out_}) {
    g->idx = g->idx.contiguous();
    g->sign = g->sign.to(at::kDouble).contiguous();
  }
  return t;
}

namespace {

// out[n, m] = in[n, idx[m]] · sign[m], one pass over [N, d] (rows of `in` may be strided, as in a
// column block of a fused reply).
at::Tensor gather_sign(const at::Tensor& in, const at::Tensor& idx_t, const at::Tensor& sign_t) {
  at::Tensor x = in.stride(1) == 1 ? in : in.contiguous();
  const std::int64_t n = x.size(0), d = x.size(1), ld = x.stride(0);
  at::Tensor out = at::empty({n, d}, x.options());
  const std::int64_t* idx = idx_t.data_ptr<std::int64_t>();
  const double* sign = sign_t.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "obfuscatune_gather_sign", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 32, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) {
        const scalar_t* s = src + r * ld;
        scalar_t* o = dst + r * d;
        for (std::int64_t k = 0; k < d; ++k) o[k] = s[idx[k]] * static_cast<scalar_t>(sign[k]);
      }
    });
  });
  return out;
}

}  // namespace

at::Tensor KroneckerTransform::core(const at::Tensor& u, bool inverse) const {
  return run_core(u, factors_, q_, q_rest_, inverse);
}

at::Tensor KroneckerTransform::apply(const at::Tensor& x, bool inverse) const {
  VEIL_CHECK_ARG(x.size(-1) == dim_, "obfuscatune: transform of size ", dim_, " applied to a last dimension of ",
                 x.size(-1));
  VEIL_CHECK_ARG(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
                 "obfuscatune: transforms apply to float32 or float64");
  at::Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, dim_});
  const Gather& in = inverse ? inv_in_ : fwd_in_;
  const Gather& out = inverse ? inv_out_ : fwd_out_;
  at::Tensor y = gather_sign(core(gather_sign(x2, in.idx, in.sign), inverse), out.idx, out.sign);
  return x.dim() == 2 ? y : y.view(x.sizes());
}

std::int64_t KroneckerTransform::secret_bytes() const {
  std::int64_t n = 0;
  for (const auto& q : q_) n += q.numel() * 4;
  if (q_rest_.defined()) n += q_rest_.numel() * 4;
  return n + dim_ * 2 * (8 + 1);  // two permutations (int64) and two sign vectors (one bit each, as bytes)
}

}  // namespace veil::designs::obfuscatune
