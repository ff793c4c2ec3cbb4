#include "veil/he/context.h"

#include "veil/he/ciphertext.h"

#include "he/context_data.h"
#include "he/util/parallel.h"
#include "veil/util/check.h"

namespace veil::he {
namespace detail {

ContextData::ContextData(const Parameters& p)
    : parms((p.validate(), p)),
      hash(p.hash()),
      n(p.poly_degree),
      q_mask(p.log_q >= 64 ? ~0ull : (uint64_t{1} << p.log_q) - 1),
      threads(he_threads()),
      mul(p.poly_degree) {}

void ContextData::crs_poly(uint64_t index, uint64_t* out) const {
  Seed seed;
  std::copy(parms.crs_seed.begin(), parms.crs_seed.end(), seed.begin());
  Prg prg(seed, Domain::kCrsUniform, index);
  sample_uniform(prg, static_cast<int>(parms.log_q), {out, n});
}

const uint64_t* ContextData::crs_ntt(uint64_t index) const {
  const size_t count = parms.max_inner_dim;
  VEIL_CHECK_ARG(index < count, "CRS polynomial ", index, " beyond the ", count, " the parameters cover");
  std::call_once(crs_once_, [&] {
    crs_ntt_.assign(count * 2 * n, 0);
    parallel_for(count, threads, [&](size_t b, size_t e, int) {
      std::vector<uint64_t> a(n);
      for (size_t j = b; j < e; ++j) {
        crs_poly(j, a.data());
        mul.transform(a.data(), crs_ntt_.data() + j * 2 * n);
      }
    });
  });
  return crs_ntt_.data() + index * 2 * n;
}

}  // namespace detail

Context::Context(const Parameters& parms) : data_(std::make_shared<const detail::ContextData>(parms)) {}

const Parameters& Context::parameters() const { return data_->parms; }
uint64_t Context::parms_hash() const { return data_->hash; }

Layout choose_layout(const Parameters& parms, size_t rows) {
  return rows * 16 < parms.poly_degree ? Layout::kRows : Layout::kColumns;
}

}  // namespace veil::he
