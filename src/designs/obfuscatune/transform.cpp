#include "veil/designs/obfuscatune/transform.h"

#include <ATen/ATen.h>

#include <map>
#include <mutex>
#include <utility>

#include "veil/designs/obfuscatune/secret_rng.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

constexpr int kHadamardRounds = 2;
constexpr int kMaxFactorLog2 = 6;  // Sylvester factors of at most 64

// The normalised Sylvester Hadamard matrix of size f (a power of two), cached per dtype.
const at::Tensor& sylvester(std::int64_t f, at::ScalarType dtype) {
  static std::mutex mu;
  static std::map<std::pair<std::int64_t, int>, at::Tensor> cache;
  std::lock_guard lock(mu);
  auto key = std::make_pair(f, static_cast<int>(dtype));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  at::Tensor h = at::ones({1, 1}, at::kDouble);
  while (h.size(0) < f) h = at::cat({at::cat({h, h}, 1), at::cat({h, -h}, 1)}, 0);
  h = (h / std::sqrt(static_cast<double>(f))).to(dtype).contiguous();
  return cache[key] = h;
}

// x [N, b], b a power of two.
at::Tensor hadamard_pow2(const at::Tensor& x) {
  const std::int64_t n = x.size(0), b = x.size(1);
  if (b == 1) return x;
  int k = 0;
  while ((std::int64_t{1} << k) < b) ++k;
  at::Tensor y = x.contiguous();
  // Each step multiplies the last mixed-radix digit of the index by its factor and rotates that
  // digit to the front; after all factors the digits are back in their original order.
  while (k > 0) {
    const int a = std::min(k, kMaxFactorLog2);
    const std::int64_t f = std::int64_t{1} << a;
    y = y.reshape({-1, f}).mm(sylvester(f, y.scalar_type())).reshape({n, b / f, f}).transpose(1, 2).contiguous();
    y = y.reshape({n, b});
    k -= a;
  }
  return y;
}

at::Tensor haar(std::int64_t d, SecretRng& rng) {
  auto [q, r] = at::linalg_qr(rng.normal({d, d}));
  return q.mul_(at::sign(r.diagonal()).unsqueeze(0));
}

}  // namespace

const char* to_string(MatrixKind kind) {
  switch (kind) {
    case MatrixKind::kIdentity: return "identity";
    case MatrixKind::kOrthogonal: return "orthogonal";
    case MatrixKind::kKappa: return "kappa";
    case MatrixKind::kGaussian: return "gaussian";
    case MatrixKind::kHadamard: return "hadamard";
    case MatrixKind::kKronecker: return "kronecker";
    case MatrixKind::kBlockDiagonal: return "block-diagonal";
    case MatrixKind::kSignedPermutation: return "signed-permutation";
  }
  return "?";
}

MatrixKind parse_matrix_kind(const std::string& name) {
  for (MatrixKind k : {MatrixKind::kIdentity, MatrixKind::kOrthogonal, MatrixKind::kKappa, MatrixKind::kGaussian,
                       MatrixKind::kHadamard, MatrixKind::kKronecker})
    if (name == to_string(k)) return k;
  throw std::invalid_argument("obfuscatune: matrix must be kronecker, orthogonal, kappa, gaussian, hadamard or identity (got '" +
                              name + "')");
}

at::Tensor block_hadamard(const at::Tensor& x) {
  const std::int64_t d = x.size(-1);
  at::Tensor x2 = x.reshape({-1, d});
  std::vector<std::int64_t> blocks;
  for (int bit = 62; bit >= 0; --bit)
    if (d & (std::int64_t{1} << bit)) blocks.push_back(std::int64_t{1} << bit);
  at::Tensor out;
  if (blocks.size() == 1) {
    out = hadamard_pow2(x2);
  } else {
    auto parts = at::split_with_sizes(x2, blocks, 1);
    std::vector<at::Tensor> done;
    for (auto& p : parts) done.push_back(hadamard_pow2(p));
    out = at::cat(done, 1);
  }
  return out.reshape(x.sizes());
}

SecretTransform SecretTransform::draw(MatrixKind kind, std::int64_t dim, double kappa, SecretRng& rng) {
  VEIL_CHECK_ARG(dim >= 1, "obfuscatune: transform size must be positive, got ", dim);
  VEIL_CHECK_ARG(kappa >= 1.0, "obfuscatune: kappa must be >= 1, got ", kappa);
  SecretTransform t;
  t.kind_ = kind;
  t.dim_ = dim;
  switch (kind) {
    case MatrixKind::kIdentity:
      break;
    case MatrixKind::kOrthogonal:
      t.r_ = haar(dim, rng).to(at::kFloat).contiguous();
      break;
    case MatrixKind::kKappa: {
      at::Tensor qa = haar(dim, rng), qb = haar(dim, rng);
      at::Tensor s = at::pow(kappa, -at::linspace(0.0, 1.0, dim, at::kDouble));  // 1 .. 1/κ
      t.r_ = at::mm(qa * s.unsqueeze(0), qb.t()).to(at::kFloat).contiguous();
      t.r_inv_ = at::mm(qb * s.reciprocal().unsqueeze(0), qa.t()).to(at::kFloat).contiguous();
      break;
    }
    case MatrixKind::kGaussian: {
      at::Tensor g = rng.normal({dim, dim}) / std::sqrt(static_cast<double>(dim));
      t.r_ = g.to(at::kFloat).contiguous();
      t.r_inv_ = at::linalg_inv(g).to(at::kFloat).contiguous();
      break;
    }
    case MatrixKind::kHadamard:
      for (int i = 0; i <= kHadamardRounds; ++i) {
        t.signs_.push_back(rng.signs(dim).to(at::kFloat));
        at::Tensor p = rng.permutation(dim);
        t.perms_.push_back(p);
        t.inv_perms_.push_back(at::argsort(p));
      }
      break;
    case MatrixKind::kKronecker:
      t.kron_ = KroneckerTransform::draw(dim, rng);
      break;
    case MatrixKind::kBlockDiagonal:
    case MatrixKind::kSignedPermutation:
      throw std::invalid_argument(std::string("obfuscatune: a ") + to_string(kind) + " transform is built, not drawn");
  }
  return t;
}

SecretTransform SecretTransform::block_diagonal(const at::Tensor& blocks) {
  VEIL_CHECK_ARG(blocks.dim() == 3 && blocks.size(0) >= 1 && blocks.size(1) >= 1 && blocks.size(1) == blocks.size(2),
                 "obfuscatune: block-diagonal transform needs blocks [n, b, b], got ", blocks.sizes());
  SecretTransform t;
  t.kind_ = MatrixKind::kBlockDiagonal;
  t.dim_ = blocks.size(0) * blocks.size(1);
  t.blocks64_ = blocks.to(at::kDouble).contiguous();
  t.blocks32_ = blocks.to(at::kFloat).contiguous();
  return t;
}

SecretTransform SecretTransform::signed_permutation(const at::Tensor& perm, const at::Tensor& signs) {
  VEIL_CHECK_ARG(perm.dim() == 1 && signs.dim() == 1 && perm.numel() == signs.numel() && perm.numel() >= 1,
                 "obfuscatune: signed permutation needs a permutation and signs of one size");
  SecretTransform t;
  t.kind_ = MatrixKind::kSignedPermutation;
  t.dim_ = perm.numel();
  t.perm_ = perm.to(at::kLong).contiguous();
  t.perm_inv_ = at::argsort(t.perm_);
  t.psigns_ = signs.to(at::kDouble).contiguous();
  return t;
}

at::Tensor SecretTransform::structured(const at::Tensor& x, bool inverse) const {
  const auto dt = x.scalar_type();
  const int last = static_cast<int>(perms_.size()) - 1;
  at::Tensor y = x;
  if (!inverse) {
    for (int i = 0; i < last; ++i)
      y = block_hadamard((y * signs_[i].to(dt)).index_select(-1, perms_[i]));
    return (y * signs_[last].to(dt)).index_select(-1, perms_[last]);
  }
  y = y.index_select(-1, inv_perms_[last]) * signs_[last].to(dt);
  for (int i = last - 1; i >= 0; --i) y = block_hadamard(y).index_select(-1, inv_perms_[i]) * signs_[i].to(dt);
  return y;
}

at::Tensor SecretTransform::apply(const at::Tensor& x, Side side) const {
  VEIL_CHECK_ARG(x.size(-1) == dim_, "obfuscatune: transform of size ", dim_, " applied to a last dimension of ",
                 x.size(-1));
  switch (kind_) {
    case MatrixKind::kIdentity:
      return x;
    case MatrixKind::kHadamard:  // orthogonal: R⁻¹ = Rᵀ
      return structured(x, side == Side::kInverse || side == Side::kTranspose);
    case MatrixKind::kKronecker:  // orthogonal: R⁻¹ = Rᵀ
      return kron_.apply(x, side == Side::kInverse || side == Side::kTranspose);
    case MatrixKind::kBlockDiagonal: {  // orthogonal blocks; a batched product over the blocks
      const bool t = side == Side::kInverse || side == Side::kTranspose;
      const at::Tensor& b = x.scalar_type() == at::kDouble ? blocks64_ : blocks32_;
      const std::int64_t n = b.size(0), k = b.size(1);
      at::Tensor xb = x.reshape({-1, n, k}).transpose(0, 1);  // [n, rows, k]
      at::Tensor y = at::bmm(xb, t ? b.transpose(1, 2).to(x.scalar_type()) : b.to(x.scalar_type()));
      return y.transpose(0, 1).reshape(x.sizes());
    }
    case MatrixKind::kSignedPermutation: {  // orthogonal
      at::Tensor sg = psigns_.to(x.scalar_type());
      if (side == Side::kR || side == Side::kInverseTranspose) return x.index_select(-1, perm_) * sg;
      return (x * sg).index_select(-1, perm_inv_);
    }
    default:
      break;
  }
  at::Tensor m;
  const bool orth = !r_inv_.defined();
  switch (side) {
    case Side::kR: m = r_; break;
    case Side::kTranspose: m = r_.t(); break;
    case Side::kInverse: m = orth ? r_.t() : r_inv_; break;
    case Side::kInverseTranspose: m = orth ? r_ : r_inv_.t(); break;
  }
  return at::matmul(x, m.to(x.scalar_type()));
}

at::Tensor SecretTransform::dense() const {
  return apply(at::eye(dim_, at::kDouble), Side::kR);
}

std::int64_t SecretTransform::secret_bytes() const {
  std::int64_t n = 0;
  if (r_.defined()) n += r_.numel() * 4;
  if (r_inv_.defined()) n += r_inv_.numel() * 4;
  for (const auto& s : signs_) n += s.numel() * 4;
  for (const auto& p : perms_) n += p.numel() * 8;
  if (kind_ == MatrixKind::kKronecker) n += kron_.secret_bytes();
  if (blocks32_.defined()) n += blocks32_.numel() * 4;
  if (perm_.defined()) n += perm_.numel() * (8 + 1);
  return n;
}

}  // namespace veil::designs::obfuscatune
