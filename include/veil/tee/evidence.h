// Hardware evidence as `veil attest verify` sees it: detect the kind from the bytes, pick the
// certificates it needs from a set recognised by content (never by file name), verify, validate,
// and describe the result as one JSON object.
#pragma once

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "veil/tee/x509.h"

namespace veil::tee {

enum class EvidenceType { SevSnp, Tdx };

// A 1184-byte report with version 2..5 and signature_algo 1 is SEV-SNP; bytes starting with a v4
// quote header (version 4, key type 2, tee type 0x81) are TDX. Throws AttestationError otherwise.
[[nodiscard]] EvidenceType detect_evidence(std::string_view bytes);

// Every certificate in every regular file of `dir` (PEM, possibly several, or DER). A file that
// holds no certificate is refused (AttestationError naming it); so is a directory with none.
[[nodiscard]] std::vector<Certificate> load_certificates(const std::filesystem::path& dir);

struct EvidenceExpectations {
  std::optional<std::string> measurement;  // raw: 48 bytes (SEV-SNP MEASUREMENT, TDX MRTD)
  std::optional<std::string> report_data;  // raw: 64 bytes
  bool allow_debug = false;                // accept a debuggable guest (SNP policy bit 19, TD DEBUG)
};

// Verifies and validates `evidence` with the certificates it needs from `certs`, at `at`.
// Returns the JSON description (type, measurement, report_data, policy/TCB, chip id or QE, the
// certificates used, verified_at, verdict "verified"). Throws AttestationError naming the cause.
[[nodiscard]] nlohmann::ordered_json verify_evidence(std::string_view evidence, const std::vector<Certificate>& certs,
                                             std::time_t at, const EvidenceExpectations& expected);

}  // namespace veil::tee
