// Intel TDX v4 quotes (ECDSA P-256): strict parsing, verification and validation.
//
//   parse_quote  header (48 bytes), TD quote body (584 bytes), signature data: the quote's ECDSA
//                signature, the attestation key, and certification data type 6 holding the QE
//                report, its signature, the QE authentication data and the PCK certificate chain
//                (type 5, PEM). Bytes after the quote are counted (trailing_bytes), never read.
//   verify       at an explicit time: PCK -> PCK CA -> Intel SGX Root CA from the quote's chain,
//                each ECDSA, valid at `at`, the chain's root equal to the caller's root, which must
//                be the pinned Intel SGX Root CA key; the QE report's signature under the PCK key;
//                QE report_data == SHA-256(attestation key || QE auth data) || 32 zero bytes; the
//                quote's signature over header+body under the attestation key.
//   validate     MRTD, RTMR0..3, MRCONFIGID, MROWNER, report_data against expectations; the TD's
//                DEBUG attribute.
// Failures throw AttestationError (attestation.h) whose message starts with the check's name.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "veil/tee/x509.h"

namespace veil::tee::tdx {

inline constexpr std::size_t kHeaderSize = 48;
inline constexpr std::size_t kBodySize = 584;
inline constexpr std::size_t kSignedSize = kHeaderSize + kBodySize;  // 632
inline constexpr std::size_t kQeReportSize = 384;
inline constexpr std::uint32_t kTeeTypeTdx = 0x81;

struct QeReport {  // SGX REPORT body of the quoting enclave
  std::string cpu_svn;       // 16
  std::uint32_t misc_select = 0;
  std::string attributes;    // 16
  std::string mr_enclave, mr_signer;  // 32 each
  std::uint16_t isv_prod_id = 0, isv_svn = 0;
  std::string report_data;   // 64
  std::string raw;           // the 384 bytes its signature covers
};

struct Quote {
  // header
  std::uint16_t version = 0, attestation_key_type = 0;
  std::uint32_t tee_type = 0;
  std::string qe_vendor_id;  // 16
  std::string user_data;     // 20
  // TD quote body
  std::string tee_tcb_svn;   // 16
  std::string mr_seam, mr_signer_seam;  // 48 each
  std::uint64_t seam_attributes = 0, td_attributes = 0, xfam = 0;
  std::string mr_td, mr_config_id, mr_owner, mr_owner_config;  // 48 each
  std::array<std::string, 4> rtmr;  // 48 each
  std::string report_data;          // 64
  // signature data
  std::string signature;            // r || s, big-endian, 64
  std::string attestation_key;      // x || y, 64
  QeReport qe_report;
  std::string qe_report_signature;  // r || s, 64
  std::string qe_auth_data;
  std::string pck_chain_pem;
  std::string signed_bytes;         // header + body (632 bytes)
  std::size_t size = 0;             // bytes the quote occupies
  std::size_t trailing_bytes = 0;   // bytes after it in the input (unsigned, ignored)
};

inline constexpr std::uint64_t kTdAttributeDebug = 1;  // TDATTRIBUTES.DEBUG (bit 0)

// Throws AttestationError ("tdx quote: ...") naming the offending field and offset.
[[nodiscard]] Quote parse_quote(std::string_view bytes);

// SHA-256 of the Intel SGX Root CA's public key (SubjectPublicKeyInfo): the pinned trust anchor.
[[nodiscard]] std::string pinned_intel_root_key_sha256();

struct Verified {
  std::vector<Certificate> pck_chain;  // PCK, intermediate CA, root
};

// `root`: the Intel SGX Root CA as the caller holds it. Throws AttestationError naming the check.
[[nodiscard]] Verified verify(const Quote& quote, const Certificate& root, std::time_t at);

struct Expectations {
  std::optional<std::string> mr_td;                   // raw 48 bytes
  std::array<std::optional<std::string>, 4> rtmr;     // raw 48 bytes each
  std::optional<std::string> mr_config_id, mr_owner;  // raw 48 bytes
  std::optional<std::string> report_data;             // raw 64 bytes
  bool allow_debug = false;
};

// Throws AttestationError starting with the field's name: "mr_td: ...", "rtmr2: ...".
void validate(const Quote& quote, const Expectations& expected);

}  // namespace veil::tee::tdx
