#include "veil/eval/attacks/he_security.h"

#include <span>

#include "veil/he/parameters.h"
#include "veil/he/serialization.h"
#include "veil/util/check.h"

namespace veil::eval {

nlohmann::json HeSecurity::to_json() const {
  return {{"poly_degree", poly_degree}, {"log_q", log_q}, {"max_log_q_128", max_log_q_128},
          {"security_bits", security_bits}, {"summary", summary}};
}

HeSecurity he_security(const he::Parameters& p) {
  HeSecurity s;
  s.poly_degree = p.poly_degree;
  s.log_q = p.log_q;
  s.max_log_q_128 = he::max_log_q_128(p.poly_degree);
  s.security_bits = s.max_log_q_128 > 0 && static_cast<int>(p.log_q) <= s.max_log_q_128 ? 128 : 0;
  s.summary = s.security_bits == 128
                  ? util::cat("RLWE N=", p.poly_degree, ", log q=", p.log_q, " <= ", s.max_log_q_128,
                              ": 128-bit classical security (2024 HE security guidelines, lattice estimator)")
                  : util::cat("RLWE N=", p.poly_degree, ", log q=", p.log_q,
                              ": outside the 128-bit table (insecure test parameters)");
  return s;
}

std::optional<HeSecurity> he_security_from_blobs(const std::vector<std::string>& blobs) {
  for (const auto& b : blobs) {
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
    try {
      if (he::peek_kind(bytes) != he::BlobKind::kParameters) continue;
      return he_security(he::load_parameters(bytes));
    } catch (const std::exception&) {
      continue;  // not an HE blob
    }
  }
  return std::nullopt;
}

}  // namespace veil::eval
