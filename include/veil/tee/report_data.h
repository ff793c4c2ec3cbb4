// What an enclave puts in the 64-byte report_data of a hardware report (SEV-SNP REPORT_DATA, TDX
// REPORTDATA) so that the report vouches for one key-exchange key and one verifier's nonce.
#pragma once

#include <string>
#include <string_view>

namespace veil::tee {

// SHA-512("veil-report-data-v1" || 0x00 || be32(|key|) || key || be32(|nonce|) || nonce): 64 raw
// bytes. The label separates it from every other hash in Veil; the lengths make the encoding
// injective (no key/nonce split gives another pair's bytes). A verifier recomputes it from the key
// it will seal to and the nonce it sent, and passes it as the expected report_data, so a genuine
// report cannot be replayed for another enclave key or another session.
// Throws std::invalid_argument when the key is empty or either input exceeds 2^32-1 bytes.
[[nodiscard]] std::string report_data_binding(std::string_view enclave_public_key, std::string_view nonce);

}  // namespace veil::tee
