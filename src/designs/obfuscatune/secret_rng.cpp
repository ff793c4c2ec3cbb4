#include "veil/designs/obfuscatune/secret_rng.h"

#include <ATen/ATen.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

void fill_random(void* dst, std::size_t bytes) {
  auto* p = static_cast<unsigned char*>(dst);
  while (bytes > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(bytes, 1 << 30));
    VEIL_CHECK_IO(RAND_bytes(p, chunk) == 1, "obfuscatune: OpenSSL RAND_bytes failed");
    p += chunk;
    bytes -= static_cast<std::size_t>(chunk);
  }
}

}  // namespace

at::Tensor SecretRng::uniform(at::IntArrayRef sizes) {
  at::Tensor bits = at::empty(sizes, at::kLong);
  fill_random(bits.data_ptr<int64_t>(), static_cast<std::size_t>(bits.numel()) * sizeof(int64_t));
  // The low 53 bits as an integer k in [0, 2^53); (k + 0.5) / 2^53 lies strictly inside (0, 1).
  at::Tensor k = bits.bitwise_and_((int64_t{1} << 53) - 1);
  return (k.to(at::kDouble) + 0.5).div_(std::ldexp(1.0, 53));
}

at::Tensor SecretRng::normal(at::IntArrayRef sizes) {
  const std::int64_t n = c10::multiply_integers(sizes);
  const std::int64_t half = (n + 1) / 2;
  at::Tensor u1 = uniform({half}), u2 = uniform({half});
  at::Tensor r = at::sqrt(-2.0 * at::log(u1));
  at::Tensor theta = u2 * (2.0 * M_PI);
  at::Tensor z = at::cat({r * at::cos(theta), r * at::sin(theta)});
  return z.narrow(0, 0, n).reshape(sizes).contiguous();
}

at::Tensor SecretRng::signs(std::int64_t n) { return uniform({n}).lt(0.5).to(at::kDouble).mul_(-2.0).add_(1.0); }

at::Tensor SecretRng::permutation(std::int64_t n) { return at::argsort(uniform({n})); }

double SecretRng::coin() { return uniform({1}).item<double>(); }

}  // namespace veil::designs::obfuscatune
