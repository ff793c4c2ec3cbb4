// Intel TDX v4 quotes (include/veil/tee/tdx.h): parse, verify, validate.
#include "veil/tee/tdx.h"

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee::tdx {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw AttestationError(msg); }

// A bounds-checked little-endian reader over the quote; each read names its field.
class Reader {
 public:
  Reader(std::string_view b, std::size_t pos, std::size_t end) : b_(b), pos_(pos), end_(end) {}
  std::string bytes(std::size_t n, const char* field) {
    need(n, field);
    std::string out(b_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  std::uint64_t uint(std::size_t n, const char* field) {
    need(n, field);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  [[nodiscard]] std::size_t pos() const { return pos_; }
  [[nodiscard]] std::size_t left() const { return end_ - pos_; }

 private:
  void need(std::size_t n, const char* field) const {
    if (n > end_ - pos_)
      fail(util::cat("tdx quote: ", field, " at offset ", pos_, " needs ", n, " bytes, ", end_ - pos_, " left"));
  }
  std::string_view b_;
  std::size_t pos_, end_;
};

const std::string kIntelQeVendorId = "\x93\x9a\x72\x33\xf7\x9c\x4c\xa9\x94\x0a\x0d\xb3\x95\x7f\x06\x07";

QeReport parse_qe_report(const std::string& raw) {
  Reader r(raw, 0, raw.size());
  QeReport q;
  q.raw = raw;
  q.cpu_svn = r.bytes(16, "qe_report.cpu_svn");
  q.misc_select = static_cast<std::uint32_t>(r.uint(4, "qe_report.misc_select"));
  (void)r.bytes(28, "qe_report.reserved1");
  q.attributes = r.bytes(16, "qe_report.attributes");
  q.mr_enclave = r.bytes(32, "qe_report.mr_enclave");
  (void)r.bytes(32, "qe_report.reserved2");
  q.mr_signer = r.bytes(32, "qe_report.mr_signer");
  (void)r.bytes(96, "qe_report.reserved3");
  q.isv_prod_id = static_cast<std::uint16_t>(r.uint(2, "qe_report.isv_prod_id"));
  q.isv_svn = static_cast<std::uint16_t>(r.uint(2, "qe_report.isv_svn"));
  (void)r.bytes(60, "qe_report.reserved4");
  q.report_data = r.bytes(64, "qe_report.report_data");
  return q;
}

std::string hexs(const std::string& raw) { return to_hex(raw); }

}  // namespace

std::string pinned_intel_root_key_sha256() {
  return from_hex("a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e");
}

Quote parse_quote(std::string_view b) {
  Quote q;
  Reader r(b, 0, b.size());
  q.version = static_cast<std::uint16_t>(r.uint(2, "version"));
  if (q.version != 4) fail(util::cat("tdx quote: version ", q.version, " is not supported (4)"));
  q.attestation_key_type = static_cast<std::uint16_t>(r.uint(2, "attestation_key_type"));
  if (q.attestation_key_type != 2)
    fail(util::cat("tdx quote: attestation key type ", q.attestation_key_type, " is not 2 (ECDSA P-256)"));
  q.tee_type = static_cast<std::uint32_t>(r.uint(4, "tee_type"));
  if (q.tee_type != kTeeTypeTdx) fail(util::cat("tdx quote: tee_type 0x", std::hex, q.tee_type, " is not 0x81 (TDX)"));
  (void)r.bytes(4, "header reserved");
  q.qe_vendor_id = r.bytes(16, "qe_vendor_id");
  q.user_data = r.bytes(20, "user_data");
  q.tee_tcb_svn = r.bytes(16, "tee_tcb_svn");
  q.mr_seam = r.bytes(48, "mr_seam");
  q.mr_signer_seam = r.bytes(48, "mr_signer_seam");
  q.seam_attributes = r.uint(8, "seam_attributes");
  q.td_attributes = r.uint(8, "td_attributes");
  q.xfam = r.uint(8, "xfam");
  q.mr_td = r.bytes(48, "mr_td");
  q.mr_config_id = r.bytes(48, "mr_config_id");
  q.mr_owner = r.bytes(48, "mr_owner");
  q.mr_owner_config = r.bytes(48, "mr_owner_config");
  for (int i = 0; i < 4; ++i) q.rtmr[i] = r.bytes(48, "rtmr");
  q.report_data = r.bytes(64, "report_data");
  q.signed_bytes = std::string(b.substr(0, kSignedSize));

  const std::uint64_t sig_len = r.uint(4, "signature_data_length");
  if (sig_len > r.left())
    fail(util::cat("tdx quote: signature data of ", sig_len, " bytes runs past the end (", r.left(), " left)"));
  q.size = r.pos() + sig_len;
  q.trailing_bytes = b.size() - q.size;
  Reader s(b, r.pos(), q.size);
  q.signature = s.bytes(64, "signature");
  q.attestation_key = s.bytes(64, "attestation_key");
  const auto cert_type = s.uint(2, "certification_data.type");
  if (cert_type != 6)
    fail(util::cat("tdx quote: certification data type ", cert_type, " is not 6 (QE report certification data)"));
  const std::uint64_t cert_len = s.uint(4, "certification_data.size");
  if (cert_len != s.left())
    fail(util::cat("tdx quote: certification data declares ", cert_len, " bytes, the signature data holds ", s.left()));
  q.qe_report = parse_qe_report(s.bytes(kQeReportSize, "qe_report"));
  q.qe_report_signature = s.bytes(64, "qe_report_signature");
  const auto auth_len = s.uint(2, "qe_auth_data.size");
  q.qe_auth_data = s.bytes(auth_len, "qe_auth_data");
  const auto inner_type = s.uint(2, "pck_certification_data.type");
  if (inner_type != 5)
    fail(util::cat("tdx quote: PCK certification data type ", inner_type, " is not 5 (PEM PCK certificate chain)"));
  const std::uint64_t chain_len = s.uint(4, "pck_certification_data.size");
  if (chain_len != s.left())
    fail(util::cat("tdx quote: PCK chain declares ", chain_len, " bytes, ", s.left(), " remain in the quote"));
  q.pck_chain_pem = s.bytes(chain_len, "pck_chain");
  while (!q.pck_chain_pem.empty() && q.pck_chain_pem.back() == '\0') q.pck_chain_pem.pop_back();
  return q;
}

Verified verify(const Quote& q, const Certificate& root, std::time_t at) {
  if (q.qe_vendor_id != kIntelQeVendorId)
    fail(util::cat("qe_vendor_id: ", hexs(q.qe_vendor_id), " is not Intel's quoting enclave"));
  // The root the caller trusts must be Intel's.
  if (root.spki_sha256() != pinned_intel_root_key_sha256())
    fail(util::cat("root: '", root.subject_cn(), "' is not the Intel SGX Root CA (its key, sha256 ",
                   hexs(root.spki_sha256()), ", is not the pinned one)"));
  if (!root.self_issued()) fail("root: the Intel SGX Root CA is not self-issued");
  root.verify_issued_by(root, "Intel SGX Root CA", "Intel SGX Root CA", at);

  // The PCK chain the quote carries: PCK, its CA and (optionally) a copy of the root.
  Verified v;
  v.pck_chain = Certificate::parse_all(q.pck_chain_pem, "PCK chain");
  if (v.pck_chain.size() < 2 || v.pck_chain.size() > 3)
    fail(util::cat("PCK chain: ", v.pck_chain.size(), " certificates, expected PCK, PCK CA and root"));
  if (v.pck_chain.size() == 3 && v.pck_chain[2].spki_sha256() != root.spki_sha256())
    fail(util::cat("PCK chain: ends in '", v.pck_chain[2].subject_cn(), "', not the given Intel SGX Root CA"));
  const Certificate& pck = v.pck_chain[0];
  const Certificate& ca = v.pck_chain[1];
  if (ca.subject_cn() != "Intel SGX PCK Platform CA" && ca.subject_cn() != "Intel SGX PCK Processor CA")
    fail(util::cat("PCK chain: the intermediate is '", ca.subject_cn(), "', not an Intel SGX PCK CA"));
  if (pck.subject_cn() != "Intel SGX PCK Certificate")
    fail(util::cat("PCK chain: the leaf is '", pck.subject_cn(), "', not an Intel SGX PCK Certificate"));
  for (const Certificate* c : {&ca, &pck})
    if (c->signature_algorithm() != "ecdsa/sha256")
      fail(util::cat("PCK chain: '", c->subject_cn(), "' is signed with ", c->signature_algorithm(), ", expected ecdsa/sha256"));
  ca.verify_issued_by(root, "PCK CA", "Intel SGX Root CA", at);
  pck.verify_issued_by(ca, "PCK certificate", "PCK CA", at);
  if (pck.curve() != "prime256v1") fail("PCK chain: the PCK key is not an ECDSA P-256 key");

  // The quoting enclave's report, signed by the PCK key, binds the attestation key.
  const std::string& qs = q.qe_report_signature;
  if (!verify_ecdsa_raw(pck.public_key(), "SHA256", q.qe_report.raw, qs.substr(0, 32), qs.substr(32, 32)))
    fail("qe_report: its signature does not verify under the PCK key (the QE report was altered)");
  const std::string binding = sha256(q.attestation_key + q.qe_auth_data) + std::string(32, '\0');
  if (q.qe_report.report_data != binding)
    fail("qe_report: its report_data is not SHA-256(attestation key || QE auth data): the attestation key is not "
         "the quoting enclave's");

  // The quote itself, signed by the attestation key.
  const auto key = p256_public_key(q.attestation_key);
  if (!verify_ecdsa_raw(key.get(), "SHA256", q.signed_bytes, q.signature.substr(0, 32), q.signature.substr(32, 32)))
    fail("signature: the quote's signature does not verify under the attestation key (the quote was altered)");
  return v;
}

void validate(const Quote& q, const Expectations& e) {
  auto same = [](const std::string& field, const std::string& got, const std::optional<std::string>& want) {
    if (want && got != *want) fail(util::cat(field, ": the quote has ", hexs(got), ", expected ", hexs(*want)));
  };
  same("mr_td", q.mr_td, e.mr_td);
  for (int i = 0; i < 4; ++i) same(util::cat("rtmr", i), q.rtmr[i], e.rtmr[i]);
  same("mr_config_id", q.mr_config_id, e.mr_config_id);
  same("mr_owner", q.mr_owner, e.mr_owner);
  same("report_data", q.report_data, e.report_data);
  if (!e.allow_debug && (q.td_attributes & kTdAttributeDebug))
    fail(util::cat("td_attributes: 0x", std::hex, q.td_attributes, " has DEBUG (bit 0) set: the host can read the "
                   "TD's memory"));
}

}  // namespace veil::tee::tdx
