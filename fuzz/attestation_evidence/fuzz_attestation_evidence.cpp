// libFuzzer target for the SEV-SNP report and TDX v4 quote parsers, and the PEM/DER certificate
// reader that takes the PCK chain out of a quote.
//
// Properties checked on every input:
//   - detect_evidence, snp::parse_report (on the input's first 1184 bytes) and tdx::parse_quote
//     return or throw AttestationError; anything else (another exception, a crash, a sanitizer
//     report, a hang) is a bug;
//   - an accepted report has the field sizes of the ABI and signed_bytes is the input's first 0x2A0
//     bytes; an accepted quote has size + trailing_bytes == the input's size and signed_bytes is its
//     first 632 bytes;
//   - the PCK chain of an accepted quote parses or throws AttestationError.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "veil/tee/attestation.h"
#include "veil/tee/evidence.h"
#include "veil/tee/sev_snp.h"
#include "veil/tee/tdx.h"

namespace {

using namespace veil::tee;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "attestation_evidence: %s\n", what);
  std::abort();
}

void check_report(std::string_view bytes) {
  try {
    const snp::Report r = snp::parse_report(bytes);
    if (r.report_data.size() != 64 || r.measurement.size() != 48 || r.chip_id.size() != 64 ||
        r.signature_r.size() != 48 || r.signature_s.size() != 48 || r.host_data.size() != 32)
      fail("report field of the wrong size");
    if (r.signed_bytes != bytes.substr(0, snp::kSignedSize)) fail("report signed_bytes is not the signed prefix");
    if (r.signature_algo != 1 || r.version < 2 || r.version > 5) fail("report accepted with a bad version/algorithm");
  } catch (const AttestationError&) {
  }
}

void check_quote(std::string_view bytes) {
  try {
    const tdx::Quote q = tdx::parse_quote(bytes);
    if (q.size + q.trailing_bytes != bytes.size() || q.size > bytes.size()) fail("quote size accounting");
    if (q.signed_bytes != bytes.substr(0, tdx::kSignedSize)) fail("quote signed_bytes is not header+body");
    if (q.mr_td.size() != 48 || q.report_data.size() != 64 || q.attestation_key.size() != 64 ||
        q.qe_report.raw.size() != tdx::kQeReportSize || q.qe_report_signature.size() != 64)
      fail("quote field of the wrong size");
    try {
      (void)Certificate::parse_all(q.pck_chain_pem, "PCK chain");
    } catch (const AttestationError&) {
    }
  } catch (const AttestationError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)detect_evidence(bytes);
  } catch (const AttestationError&) {
  }
  if (size >= snp::kReportSize) check_report(bytes.substr(0, snp::kReportSize));
  check_report(bytes);
  check_quote(bytes);
  return 0;
}
