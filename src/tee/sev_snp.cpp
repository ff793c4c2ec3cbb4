// AMD SEV-SNP attestation reports (include/veil/tee/sev_snp.h): parse, verify, validate.
#include "veil/tee/sev_snp.h"

#include <openssl/asn1.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee::snp {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw AttestationError(msg); }

std::uint64_t le(std::string_view b, std::size_t off, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(b[off + i])) << (8 * i);
  return v;
}

void require_zero(std::string_view b, std::size_t from, std::size_t to, const char* what) {
  for (std::size_t i = from; i < to; ++i)
    if (b[i] != 0)
      fail(util::cat("sev-snp report: reserved byte at offset 0x", std::hex, i, " (", what, ") is not zero"));
}

// Little-endian 72-byte field holding a P-384 scalar in its low 48 bytes -> 48 bytes big-endian.
std::string scalar(std::string_view b, std::size_t off, const char* name) {
  require_zero(b, off + 48, off + 72, name);
  std::string be(b.substr(off, 48));
  std::reverse(be.begin(), be.end());
  return be;
}

std::string hexs(std::string_view raw) { return to_hex(std::string(raw)); }

std::string tcb_text(const TcbVersion& t, Product p) {
  return util::cat(p == Product::Turin ? util::cat("fmc ", int(t.fmc), ", ") : "", "bl ", int(t.bootloader), ", tee ",
                   int(t.tee), ", snp ", int(t.snp), ", ucode ", int(t.microcode));
}

// An AMD VCEK SPL extension: a DER INTEGER 0..255 inside the extension's OCTET STRING.
std::optional<std::uint8_t> spl(const Certificate& vcek, const char* oid) {
  const auto v = vcek.extension(oid);
  if (!v) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(v->data());
  ASN1_INTEGER* i = d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(v->size()));
  const long n = i ? ASN1_INTEGER_get(i) : -1;
  const bool whole = i && p == reinterpret_cast<const unsigned char*>(v->data()) + v->size();
  ASN1_INTEGER_free(i);
  if (!whole || n < 0 || n > 255) fail(util::cat("VCEK: extension ", oid, " is not an integer 0..255"));
  return static_cast<std::uint8_t>(n);
}

std::uint8_t required_spl(const Certificate& vcek, const char* oid, const char* name) {
  const auto v = spl(vcek, oid);
  if (!v) fail(util::cat("VCEK: the ", name, " TCB extension ", oid, " is missing"));
  return *v;
}

void check_rsa_pss_384(const Certificate& c, const char* what) {
  const std::string alg = c.signature_algorithm();
  if (alg != "rsassa-pss/sha384/mgf1-sha384/salt48")
    fail(util::cat(what, ": signed with ", alg, ", expected rsassa-pss/sha384/mgf1-sha384/salt48"));
}

}  // namespace

const char* product_name(Product p) {
  switch (p) {
    case Product::Milan: return "Milan";
    case Product::Genoa: return "Genoa";
    case Product::Turin: return "Turin";
  }
  return "?";
}

Product product_from_name(std::string_view name) {
  const std::string_view family = name.substr(0, name.find('-'));
  for (Product p : {Product::Milan, Product::Genoa, Product::Turin})
    if (family == product_name(p)) return p;
  fail(util::cat("VCEK: unknown product '", name, "' (known: Milan, Genoa, Turin)"));
}

std::string pinned_ark_key_sha256(Product p) {
  switch (p) {  // sha256 of each ARK's SubjectPublicKeyInfo (AMD KDS, virtee/sev builtin roots)
    case Product::Milan: return from_hex("9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9");
    case Product::Genoa: return from_hex("429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831");
    case Product::Turin: return from_hex("4f125410563a2ab9a50356f9243f6fe0b6f73de98603f53f90339c70e9d7ad08");
  }
  return "";
}

TcbVersion decode_tcb(std::uint64_t raw, Product p) {
  TcbVersion t;
  t.raw = raw;
  auto byte = [&](int i) { return static_cast<std::uint8_t>(raw >> (8 * i)); };
  if (p == Product::Turin) {
    t.fmc = byte(0), t.bootloader = byte(1), t.tee = byte(2), t.snp = byte(3);
  } else {
    t.bootloader = byte(0), t.tee = byte(1), t.snp = byte(6);
  }
  t.microcode = byte(7);
  return t;
}

Report parse_report(std::string_view b) {
  if (b.size() != kReportSize) fail(util::cat("sev-snp report: ", b.size(), " bytes, expected ", kReportSize));
  Report r;
  r.version = static_cast<std::uint32_t>(le(b, 0x00, 4));
  if (r.version < 2 || r.version > 5)
    fail(util::cat("sev-snp report: version ", r.version, " is not supported (2 to 5)"));
  r.guest_svn = static_cast<std::uint32_t>(le(b, 0x04, 4));
  r.policy = le(b, 0x08, 8);
  if (!(r.policy & kPolicyReservedOne)) fail("sev-snp report: policy bit 17 (must be one) is zero");
  if (r.policy >> 26) fail(util::cat("sev-snp report: policy 0x", std::hex, r.policy, " sets reserved bits 26..63"));
  r.family_id = std::string(b.substr(0x10, 16));
  r.image_id = std::string(b.substr(0x20, 16));
  r.vmpl = static_cast<std::uint32_t>(le(b, 0x30, 4));
  if (r.vmpl > 3) fail(util::cat("sev-snp report: vmpl ", r.vmpl, " is not 0..3"));
  r.signature_algo = static_cast<std::uint32_t>(le(b, 0x34, 4));
  if (r.signature_algo != 1)
    fail(util::cat("sev-snp report: signature_algo ", r.signature_algo, " is not 1 (ECDSA P-384 with SHA-384)"));
  r.current_tcb = le(b, 0x38, 8);
  r.platform_info = le(b, 0x40, 8);
  const auto flags = static_cast<std::uint32_t>(le(b, 0x48, 4));
  r.author_key_en = flags & 1;
  r.mask_chip_key = flags & 2;
  r.signing_key = (flags >> 2) & 7;
  if ((flags >> 5) != 0 || r.signing_key > 1)
    fail(util::cat("sev-snp report: key flags 0x", std::hex, flags, " set reserved bits"));
  require_zero(b, 0x4C, 0x50, "after the key flags");
  r.report_data = std::string(b.substr(0x50, 64));
  r.measurement = std::string(b.substr(0x90, 48));
  r.host_data = std::string(b.substr(0xC0, 32));
  r.id_key_digest = std::string(b.substr(0xE0, 48));
  r.author_key_digest = std::string(b.substr(0x110, 48));
  r.report_id = std::string(b.substr(0x140, 32));
  r.report_id_ma = std::string(b.substr(0x160, 32));
  r.reported_tcb = le(b, 0x180, 8);
  require_zero(b, r.version >= 3 ? 0x18B : 0x188, 0x1A0, "after reported_tcb");
  r.chip_id = std::string(b.substr(0x1A0, 64));
  r.committed_tcb = le(b, 0x1E0, 8);
  require_zero(b, 0x1EB, 0x1EC, "after current_major");
  require_zero(b, 0x1EF, 0x1F0, "after committed_major");
  r.launch_tcb = le(b, 0x1F0, 8);
  require_zero(b, r.version >= 5 ? 0x208 : 0x1F8, kSignedSize, "before the signature");
  r.signature_r = scalar(b, 0x2A0, "signature r");
  r.signature_s = scalar(b, 0x2E8, "signature s");
  require_zero(b, 0x330, kReportSize, "after the signature");
  r.signed_bytes = std::string(b.substr(0, kSignedSize));
  return r;
}

Verified verify(const Report& r, const Certs& c, std::time_t at) {
  if (r.signing_key != 0)
    fail("signing_key: the report is signed by a VLEK; only VCEK-signed reports are supported");
  // The product family comes from the VCEK; its roots must be that family's.
  const auto product_ext = c.vcek.extension("1.3.6.1.4.1.3704.1.2");
  if (!product_ext || product_ext->size() < 2 || (*product_ext)[0] != 0x16 ||
      static_cast<unsigned char>((*product_ext)[1]) != product_ext->size() - 2)
    fail("VCEK: the productName extension (1.3.6.1.4.1.3704.1.2) is missing or not an IA5String");
  const Product product = product_from_name(product_ext->substr(2));
  const std::string family = product_name(product);

  // ARK: the pinned root of that family, self-signed.
  if (c.ark.subject_cn() != "ARK-" + family)
    fail(util::cat("ARK: the VCEK is for ", family, " but the ARK is '", c.ark.subject_cn(), "'"));
  if (c.ark.spki_sha256() != pinned_ark_key_sha256(product))
    fail(util::cat("ARK: '", c.ark.subject_cn(), "' is not AMD's: its key (sha256 ", hexs(c.ark.spki_sha256()),
                   ") is not the pinned ARK-", family, " key"));
  if (!c.ark.self_issued()) fail("ARK: not self-issued");
  check_rsa_pss_384(c.ark, "ARK");
  c.ark.verify_issued_by(c.ark, "ARK", "ARK", at);

  // ASK, signed by the ARK.
  if (c.ask.subject_cn() != "SEV-" + family)
    fail(util::cat("ASK: the VCEK is for ", family, " but the ASK is '", c.ask.subject_cn(), "'"));
  check_rsa_pss_384(c.ask, "ASK");
  c.ask.verify_issued_by(c.ark, "ASK", "ARK", at);

  // VCEK, signed by the ASK, a P-384 key.
  if (c.vcek.subject_cn() != "SEV-VCEK") fail(util::cat("VCEK: subject is '", c.vcek.subject_cn(), "', not SEV-VCEK"));
  check_rsa_pss_384(c.vcek, "VCEK");
  c.vcek.verify_issued_by(c.ask, "VCEK", "ASK", at);
  if (c.vcek.curve() != "secp384r1") fail("VCEK: the key is not an ECDSA P-384 key");

  // The VCEK is this chip's at this TCB.
  if (r.mask_chip_key) fail("chip_id: the report masks its chip id (MASK_CHIP_ID), so no VCEK can be matched to it");
  const auto hwid = c.vcek.extension("1.3.6.1.4.1.3704.1.4");
  if (!hwid) fail("VCEK: the hwID extension (1.3.6.1.4.1.3704.1.4) is missing");
  const std::size_t id_len = product == Product::Turin ? 8 : 64;
  const bool id_ok = hwid->size() == id_len && r.chip_id.compare(0, id_len, *hwid) == 0 &&
                     std::all_of(r.chip_id.begin() + id_len, r.chip_id.end(), [](char ch) { return ch == 0; });
  if (!id_ok)
    fail(util::cat("chip_id: the report's chip id ", hexs(r.chip_id).substr(0, 16), "... is not the VCEK's hwID ",
                   hexs(*hwid).substr(0, 16), "... (a VCEK of another chip)"));
  const TcbVersion reported = decode_tcb(r.reported_tcb, product);
  TcbVersion cert;
  cert.bootloader = required_spl(c.vcek, "1.3.6.1.4.1.3704.1.3.1", "boot loader");
  cert.tee = required_spl(c.vcek, "1.3.6.1.4.1.3704.1.3.2", "TEE");
  cert.snp = required_spl(c.vcek, "1.3.6.1.4.1.3704.1.3.3", "SNP");
  cert.microcode = required_spl(c.vcek, "1.3.6.1.4.1.3704.1.3.8", "microcode");
  bool tcb_ok = true;
  if (product == Product::Turin) {
    cert.fmc = required_spl(c.vcek, "1.3.6.1.4.1.3704.1.3.9", "FMC");
  } else {  // Milan and Genoa: bytes 2..5 are the SPL 4..7 extensions (zero when absent)
    for (int i = 0; i < 4; ++i) {
      const std::string oid = util::cat("1.3.6.1.4.1.3704.1.3.", 4 + i);
      tcb_ok = tcb_ok && spl(c.vcek, oid.c_str()).value_or(0) == static_cast<std::uint8_t>(r.reported_tcb >> (16 + 8 * i));
    }
  }
  tcb_ok = tcb_ok && cert.fmc == reported.fmc && cert.bootloader == reported.bootloader && cert.tee == reported.tee &&
           cert.snp == reported.snp && cert.microcode == reported.microcode;
  if (!tcb_ok)
    fail(util::cat("reported_tcb: the report's TCB 0x", std::hex, r.reported_tcb, std::dec, " (",
                   tcb_text(reported, product), ") is not the VCEK's (", tcb_text(cert, product), ")"));

  // The report's signature under the VCEK.
  if (!verify_ecdsa_raw(c.vcek.public_key(), "SHA384", r.signed_bytes, r.signature_r, r.signature_s))
    fail("signature: the report's ECDSA P-384 signature does not verify under the VCEK (the report was altered)");
  return {product, reported};
}

void validate(const Report& r, Product product, const Expectations& e) {
  auto same = [](const char* field, const std::string& got, const std::optional<std::string>& want) {
    if (want && got != *want)
      fail(util::cat(field, ": the report has ", hexs(got), ", expected ", hexs(*want)));
  };
  same("measurement", r.measurement, e.measurement);
  same("report_data", r.report_data, e.report_data);
  same("host_data", r.host_data, e.host_data);
  if (e.vmpl && r.vmpl != *e.vmpl) fail(util::cat("vmpl: the report has ", r.vmpl, ", expected ", *e.vmpl));
  if (!e.allow_debug && (r.policy & kPolicyDebug))
    fail(util::cat("policy: 0x", std::hex, r.policy, " allows debugging (bit 19): the host can read and alter the "
                   "guest's memory"));
  if (!e.allow_migration_agent && (r.policy & kPolicyMigrateMa))
    fail(util::cat("policy: 0x", std::hex, r.policy, " allows a migration agent (bit 18)"));
  if (e.require_single_socket && !(r.policy & kPolicySingleSocket))
    fail(util::cat("policy: 0x", std::hex, r.policy, " does not require a single socket (bit 20)"));
  if (r.guest_svn < e.minimum_guest_svn)
    fail(util::cat("guest_svn: the report has ", r.guest_svn, ", expected at least ", e.minimum_guest_svn));
  if (e.minimum_tcb) {
    const TcbVersion t = decode_tcb(r.reported_tcb, product);
    const TcbVersion& m = *e.minimum_tcb;
    const std::array<std::pair<const char*, std::pair<int, int>>, 5> parts = {{{"fmc", {t.fmc, m.fmc}},
                                                                                {"bl", {t.bootloader, m.bootloader}},
                                                                                {"tee", {t.tee, m.tee}},
                                                                                {"snp", {t.snp, m.snp}},
                                                                                {"ucode", {t.microcode, m.microcode}}}};
    for (const auto& [name, v] : parts)
      if (v.first < v.second)
        fail(util::cat("reported_tcb: ", name, " ", v.first, " is below the minimum ", v.second));
  }
}

}  // namespace veil::tee::snp
