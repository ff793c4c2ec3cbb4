// Against HE designs no attack is run on the ciphertexts: the report states the security level
// of the parameter set the untrusted party saw on the wire (veil::he, docs/he.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veil::he {
struct Parameters;
}

namespace veil::eval {

struct HeSecurity {
  std::uint32_t poly_degree = 0, log_q = 0;
  int max_log_q_128 = 0;      // 2024 HE security guidelines (lattice estimator), ternary secret, sigma 3.2
  int security_bits = 0;      // 128 when log_q <= max_log_q_128, else 0 (below the table)
  std::string summary;        // one line for the report
  [[nodiscard]] nlohmann::json to_json() const;
};

[[nodiscard]] HeSecurity he_security(const he::Parameters& parms);
// The parameters among opaque blobs a party received (blobs of kind kParameters), if any.
[[nodiscard]] std::optional<HeSecurity> he_security_from_blobs(const std::vector<std::string>& blobs);

}  // namespace veil::eval
