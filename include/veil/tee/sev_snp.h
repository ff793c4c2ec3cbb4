// AMD SEV-SNP attestation reports: strict parsing, verification and validation.
//
// As in google/go-sev-guest, three steps with separate jobs:
//   parse_report  the 1184-byte ATTESTATION_REPORT (SEV-SNP ABI spec, versions 2, 3 and 5) into a
//                 typed Report; refuses wrong sizes, unknown versions and algorithms, non-zero
//                 reserved fields and malformed signature fields;
//   verify        the cryptography, at an explicit time: ARK (pinned AMD root key of the product
//                 family, self-signed) -> ASK -> VCEK, each RSA-PSS/SHA-384/salt 48, all valid at
//                 `at`; the VCEK's hwID and TCB extensions equal the report's chip_id and
//                 reported_tcb; the ECDSA P-384/SHA-384 signature over bytes 0..0x29F under the
//                 VCEK;
//   validate      the fields against what the caller expects (measurement, report_data, policy,
//                 TCB minimum, VMPL, ...).
// Every failure throws AttestationError (attestation.h) whose message starts with the check's
// name ("measurement: ...", "chip_id: ...", "ARK: ...").
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "veil/tee/x509.h"

namespace veil::tee::snp {

inline constexpr std::size_t kReportSize = 0x4A0;    // 1184
inline constexpr std::size_t kSignedSize = 0x2A0;    // bytes the signature covers

enum class Product { Milan, Genoa, Turin };
[[nodiscard]] const char* product_name(Product p);
// The product from a VCEK's productName extension ("Milan-B0" -> Milan). Throws AttestationError.
[[nodiscard]] Product product_from_name(std::string_view name);

// A TCB_VERSION (u64) decoded per product: Milan/Genoa put the boot loader in byte 0, the TEE in
// byte 1, SNP in byte 6 and the microcode in byte 7; Turin adds the FMC in byte 0 and shifts.
struct TcbVersion {
  std::uint64_t raw = 0;
  std::uint8_t fmc = 0, bootloader = 0, tee = 0, snp = 0, microcode = 0;
};
[[nodiscard]] TcbVersion decode_tcb(std::uint64_t raw, Product p);

// Guest policy bits (SEV-SNP ABI, GUEST_POLICY).
inline constexpr std::uint64_t kPolicySmt = 1ull << 16;
inline constexpr std::uint64_t kPolicyReservedOne = 1ull << 17;
inline constexpr std::uint64_t kPolicyMigrateMa = 1ull << 18;
inline constexpr std::uint64_t kPolicyDebug = 1ull << 19;
inline constexpr std::uint64_t kPolicySingleSocket = 1ull << 20;

struct Report {
  std::uint32_t version = 0, guest_svn = 0;
  std::uint64_t policy = 0;
  std::string family_id, image_id;  // 16 bytes each
  std::uint32_t vmpl = 0, signature_algo = 0;
  std::uint64_t current_tcb = 0, platform_info = 0;
  bool author_key_en = false, mask_chip_key = false;
  std::uint32_t signing_key = 0;  // 0: VCEK, 1: VLEK
  std::string report_data;        // 64 bytes
  std::string measurement;        // 48 bytes
  std::string host_data;          // 32 bytes
  std::string id_key_digest, author_key_digest;  // 48 bytes each
  std::string report_id, report_id_ma;           // 32 bytes each
  std::uint64_t reported_tcb = 0;
  std::string chip_id;            // 64 bytes
  std::uint64_t committed_tcb = 0, launch_tcb = 0;
  std::string signature_r, signature_s;  // big-endian, 48 bytes each
  std::string signed_bytes;              // bytes 0..0x29F, what the signature covers
};

// Throws AttestationError ("sev-snp report: ...") naming the offending field or offset.
[[nodiscard]] Report parse_report(std::string_view bytes);

// The certificates a report is verified with: the VCEK of its chip and the ASK/ARK of its family.
struct Certs {
  Certificate vcek, ask, ark;
};

// What verify() established, for display.
struct Verified {
  Product product;
  TcbVersion reported_tcb;
};

// Throws AttestationError naming the failed check (see the header comment for the order).
[[nodiscard]] Verified verify(const Report& report, const Certs& certs, std::time_t at);

// SHA-256 of each family's genuine ARK public key (SubjectPublicKeyInfo), the pinned trust anchors.
[[nodiscard]] std::string pinned_ark_key_sha256(Product p);

struct Expectations {
  std::optional<std::string> measurement;  // raw 48 bytes
  std::optional<std::string> report_data;  // raw 64 bytes
  std::optional<std::string> host_data;    // raw 32 bytes
  std::optional<std::uint32_t> vmpl;
  std::optional<TcbVersion> minimum_tcb;   // each component of reported_tcb must be >= this
  std::uint32_t minimum_guest_svn = 0;
  bool allow_debug = false;            // policy bit 19: the hypervisor may read and write guest memory
  bool allow_migration_agent = false;  // policy bit 18: a migration agent may export guest memory
  bool require_single_socket = false;
};

// Throws AttestationError starting with the field's name: "measurement: ...", "policy: ...".
void validate(const Report& report, Product product, const Expectations& expected);

}  // namespace veil::tee::snp
