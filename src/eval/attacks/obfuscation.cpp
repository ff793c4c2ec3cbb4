#include "veil/eval/attacks/obfuscation.h"

#include <ATen/ATen.h>

#include "veil/util/check.h"

namespace veil::eval {
namespace {

void check_pair(const at::Tensor& a, const at::Tensor& b, const char* what) {
  VEIL_CHECK_ARG(a.defined() && b.defined() && a.dim() == 2 && a.sizes() == b.sizes(), what,
                 ": expected two matrices of the same shape, got ", a.sizes(), " and ", b.sizes());
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
}

}  // namespace

double gram_distance(const at::Tensor& w, const at::Tensor& wo) {
  check_pair(w, wo, "gram_distance");
  at::NoGradGuard g;
  auto a = w.to(at::kDouble), b = wo.to(at::kDouble);
  return rel(b.matmul(b.t()), a.matmul(a.t()));
}

KeyRecovery recover_orthogonal_key(const at::Tensor& plain, const at::Tensor& obf) {
  check_pair(plain, obf, "recover_orthogonal_key");
  at::NoGradGuard g;
  auto a = plain.to(at::kDouble), b = obf.to(at::kDouble);
  auto [u, s, vh] = at::linalg_svd(a.t().matmul(b), /*full_matrices=*/false);
  KeyRecovery k{"procrustes", u.matmul(vh).to(at::kFloat), 0};
  k.relative_error = rel(a.matmul(u.matmul(vh)), b);
  return k;
}

KeyRecovery recover_linear_key(const at::Tensor& plain, const at::Tensor& obf) {
  check_pair(plain, obf, "recover_linear_key");
  at::NoGradGuard g;
  auto a = plain.to(at::kDouble), b = obf.to(at::kDouble);
  auto r = at::linalg_lstsq(a, b, c10::nullopt, std::string("gelsd"));
  auto key = std::get<0>(r);
  KeyRecovery k{"least-squares", key.to(at::kFloat), 0};
  k.relative_error = rel(a.matmul(key), b);
  return k;
}

at::Tensor undo_key(const at::Tensor& x, const at::Tensor& key) {
  VEIL_CHECK_ARG(key.dim() == 2 && key.size(0) == key.size(1) && x.size(-1) == key.size(1),
                 "undo_key: key must be [in, in] matching the activations' last dimension");
  at::NoGradGuard g;
  return x.to(at::kDouble).matmul(at::linalg_pinv(key.to(at::kDouble))).to(at::kFloat);
}

}  // namespace veil::eval
