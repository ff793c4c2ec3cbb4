#include "veil/he/encryptor.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <limits>
#include <vector>

#include "he/context_data.h"
#include "he/util/parallel.h"
#include "he/util/prng.h"
#include "veil/util/check.h"

namespace veil::he {
namespace {

// Zeroises secret-dependent scratch on scope exit.
template <typename T>
struct Wiped {
  std::vector<T> v;
  explicit Wiped(size_t n) : v(n) {}
  ~Wiped() { OPENSSL_cleanse(v.data(), v.size() * sizeof(T)); }
};

}  // namespace

Encryptor::Encryptor(const Context& ctx, SecretKey& key) : ctx_(ctx), key_(&key) {
  VEIL_CHECK_ARG(key.parms_hash() == ctx.parms_hash(), "secret key belongs to parameters ", key.parms_hash(),
                 ", not to ", ctx.parms_hash());
}

EncryptedMatrix Encryptor::encrypt(std::span<const int32_t> x, size_t rows, size_t cols, Layout layout) {
  const detail::ContextData& d = ctx_.data();
  const Parameters& p = d.parms;
  VEIL_CHECK_STATE(!key_->used(), "one-time secret key already encrypted a matrix; create a fresh key");
  VEIL_CHECK_ARG(layout == Layout::kColumns || layout == Layout::kRows, "unknown layout ",
                 static_cast<int>(layout));
  VEIL_CHECK_ARG(rows >= 1 && rows <= std::numeric_limits<uint32_t>::max(), "row count ", rows, " out of range");
  VEIL_CHECK_ARG(cols >= 1 && cols <= p.max_inner_dim, "inner dimension ", cols, " outside [1, ", p.max_inner_dim,
                 "] covered by the parameters");
  VEIL_CHECK_ARG(x.size() == rows * cols, "input has ", x.size(), " values, expected ", rows, " x ", cols);
  const int32_t lo = -(int32_t{1} << (p.input_bits - 1)), hi = (int32_t{1} << (p.input_bits - 1)) - 1;
  for (size_t i = 0; i < x.size(); ++i) {
    VEIL_CHECK_ARG(x[i] >= lo && x[i] <= hi, "input value ", x[i], " at (", i / cols, ", ", i % cols,
                   ") outside the centred ", p.input_bits, "-bit range [", lo, ", ", hi, "]");
  }
  if (p.input_l1 != 0) {
    for (size_t r = 0; r < rows; ++r) {
      uint64_t l1 = 0;
      for (size_t j = 0; j < cols; ++j) l1 += static_cast<uint64_t>(std::abs(int64_t{x[r * cols + j]}));
      VEIL_CHECK_ARG(l1 <= p.input_l1, "input row ", r, " has L1 norm ", l1, " above the parameters' bound ",
                     p.input_l1);
    }
  }
  key_->used_ = true;  // burnt even if encryption fails below

  EncryptedMatrix out;
  out.parms_hash = d.hash;
  out.layout = layout;
  out.rows = static_cast<uint32_t>(rows);
  out.cols = static_cast<uint32_t>(cols);
  out.coeffs.assign(rows * cols, 0);
  const size_t n = d.n;
  const uint64_t delta = d.delta(), mask = d.q_mask;
  const detail::Seed noise = detail::random_seed();
  auto body = [&](const uint64_t* prod, const int8_t* e, size_t i, int32_t m) {
    return (prod[i] + static_cast<uint64_t>(static_cast<int64_t>(e[i])) +
            delta * static_cast<uint64_t>(static_cast<int64_t>(m))) & mask;
  };

  if (layout == Layout::kColumns) {
    const size_t blocks = (rows + n - 1) / n;
    for (size_t blk = 0; blk < blocks; ++blk) {
      Wiped<int8_t> s(n);
      key_->derive(blk, s.v.data(), n);
      Wiped<uint64_t> s_ntt(2 * n);
      d.mul.transform_small(s.v, s_ntt.v);
      const size_t r0 = blk * n, valid = std::min(n, rows - r0);
      detail::parallel_for(cols, d.threads, [&](size_t j0, size_t j1, int) {
        Wiped<uint64_t> prod(n), scratch(2 * n);
        Wiped<int8_t> e(n);
        for (size_t j = j0; j < j1; ++j) {
          d.mul.multiply_transformed(d.crs_ntt(j), s_ntt.v, prod.v.data(), scratch.v.data());
          detail::Prg prg(noise, detail::Domain::kError, blk * cols + j);
          detail::sample_error(prg, std::span<int8_t>(e.v).first(valid));  // only sent coefficients
          uint64_t* dst = out.coeffs.data() + j * rows + r0;
          for (size_t i = 0; i < valid; ++i) dst[i] = body(prod.v.data(), e.v.data(), i, x[(r0 + i) * cols + j]);
        }
      });
    }
  } else {
    const size_t chunks = (cols + n - 1) / n;
    detail::parallel_for(rows, d.threads, [&](size_t rb, size_t re, int) {
      Wiped<int8_t> s(n), e(n);
      Wiped<uint64_t> s_ntt(2 * n), prod(n), scratch(2 * n);
      for (size_t r = rb; r < re; ++r) {
        key_->derive(r, s.v.data(), n);
        d.mul.transform_small(s.v, s_ntt.v);
        for (size_t t = 0; t < chunks; ++t) {
          d.mul.multiply_transformed(d.crs_ntt(t), s_ntt.v, prod.v.data(), scratch.v.data());
          detail::Prg prg(noise, detail::Domain::kError, r * chunks + t);
          const size_t j0 = t * n, valid = std::min(n, cols - j0);
          detail::sample_error(prg, std::span<int8_t>(e.v).first(valid));  // only sent coefficients
          for (size_t j = 0; j < valid; ++j)
            out.coeffs[(j0 + j) * rows + r] = body(prod.v.data(), e.v.data(), j, x[r * cols + j0 + j]);
        }
      }
    });
  }
  return out;
}

}  // namespace veil::he
