// RFC 3339 / ISO 8601 timestamps for the attestation verifiers' explicit verification time.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace veil::tee {

// "2025-06-01T12:00:00Z", "2025-06-01T14:00:00.5+02:00", "2025-06-01 12:00:00z", or a date alone
// ("2025-06-01", midnight UTC). A time without a zone is refused (it would depend on the machine's
// zone). Fractions of a second are dropped. Throws std::invalid_argument naming the problem.
[[nodiscard]] std::time_t parse_timestamp(std::string_view text);
// "2025-06-01T12:00:00Z".
[[nodiscard]] std::string format_timestamp(std::time_t t);

}  // namespace veil::tee
