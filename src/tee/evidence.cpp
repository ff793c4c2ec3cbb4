// Evidence detection, certificate selection and the JSON description (include/veil/tee/evidence.h).
#include "veil/tee/evidence.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "veil/tee/attestation.h"
#include "veil/tee/sev_snp.h"
#include "veil/tee/tdx.h"
#include "veil/tee/timestamp.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

constexpr const char* kAmdHwidOid = "1.3.6.1.4.1.3704.1.4";

std::uint64_t le(std::string_view b, std::size_t off, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(b[off + i])) << (8 * i);
  return v;
}

std::string hex_u64(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

nlohmann::ordered_json cert_json(const Certificate& c) {
  return {{"subject", c.subject_cn()},
          {"not_before", format_timestamp(c.not_before())},
          {"not_after", format_timestamp(c.not_after())},
          {"key_sha256", to_hex(c.spki_sha256())}};
}

std::string names(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += (out.empty() ? "" : ", ") + c.subject_cn();
  return out.empty() ? "none" : out;
}

// The single certificate with this subject CN that is not the VCEK; a clear error when missing.
const Certificate& by_cn(const std::vector<Certificate>& certs, const std::string& cn, const char* role,
                         const char* why) {
  std::vector<const Certificate*> found;
  for (const auto& c : certs)
    if (c.subject_cn() == cn && !c.extension(kAmdHwidOid)) found.push_back(&c);
  if (found.empty())
    throw AttestationError(util::cat("certs: no ", role, " '", cn, "' among the certificates (", why, "; found: ",
                                     names(certs), ")"));
  // Several copies (a bundle and a single file) are fine; two different keys under one name are not.
  for (const auto* c : found)
    if (c->spki_sha256() != found.front()->spki_sha256())
      throw AttestationError(util::cat("certs: two different certificates named '", cn, "' (refusing to choose)"));
  return *found.front();
}

nlohmann::ordered_json verify_snp(std::string_view bytes, const std::vector<Certificate>& certs, std::time_t at,
                          const EvidenceExpectations& e) {
  const snp::Report r = snp::parse_report(bytes);
  // The VCEK: a certificate with AMD's hwID extension; the one naming this chip if there is one.
  const Certificate* vcek = nullptr;
  for (const auto& c : certs) {
    const auto id = c.extension(kAmdHwidOid);
    if (!id) continue;
    if (!vcek) vcek = &c;
    if (!id->empty() && r.chip_id.compare(0, id->size(), *id) == 0) {
      vcek = &c;
      break;
    }
  }
  if (!vcek) throw AttestationError(util::cat("certs: no VCEK (a certificate with AMD's hwID extension) among ", names(certs)));
  const auto product_ext = vcek->extension("1.3.6.1.4.1.3704.1.2");
  const std::string family =
      product_ext && product_ext->size() > 2 ? snp::product_name(snp::product_from_name(product_ext->substr(2))) : "?";
  const std::string why = util::cat("the VCEK is a ", family, " one");
  snp::Certs chain{*vcek, by_cn(certs, "SEV-" + family, "ASK", why.c_str()),
                   by_cn(certs, "ARK-" + family, "ARK", why.c_str())};
  const snp::Verified v = snp::verify(r, chain, at);
  snp::Expectations x;
  x.measurement = e.measurement;
  x.report_data = e.report_data;
  x.allow_debug = e.allow_debug;
  snp::validate(r, v.product, x);
  const auto& t = v.reported_tcb;
  nlohmann::ordered_json tcb = {{"raw", hex_u64(t.raw)}, {"bootloader", t.bootloader}, {"tee", t.tee}, {"snp", t.snp},
                        {"microcode", t.microcode}};
  if (v.product == snp::Product::Turin) tcb["fmc"] = t.fmc;
  return {{"type", "sev-snp"},
          {"verdict", "verified"},
          {"verified_at", format_timestamp(at)},
          {"product", snp::product_name(v.product)},
          {"version", r.version},
          {"measurement", to_hex(r.measurement)},
          {"report_data", to_hex(r.report_data)},
          {"host_data", to_hex(r.host_data)},
          {"policy", {{"raw", hex_u64(r.policy)},
                      {"debug", bool(r.policy & snp::kPolicyDebug)},
                      {"migrate_ma", bool(r.policy & snp::kPolicyMigrateMa)},
                      {"smt", bool(r.policy & snp::kPolicySmt)},
                      {"single_socket", bool(r.policy & snp::kPolicySingleSocket)},
                      {"abi", util::cat(int((r.policy >> 8) & 0xff), ".", int(r.policy & 0xff))}}},
          {"vmpl", r.vmpl},
          {"guest_svn", r.guest_svn},
          {"reported_tcb", tcb},
          {"chip_id", to_hex(r.chip_id)},
          {"certificates", {{"vcek", cert_json(chain.vcek)}, {"ask", cert_json(chain.ask)}, {"ark", cert_json(chain.ark)}}}};
}

nlohmann::ordered_json verify_tdx(std::string_view bytes, const std::vector<Certificate>& certs, std::time_t at,
                          const EvidenceExpectations& e) {
  const tdx::Quote q = tdx::parse_quote(bytes);
  std::vector<const Certificate*> roots;
  for (const auto& c : certs)
    if (c.self_issued() && c.subject_cn() == "Intel SGX Root CA") roots.push_back(&c);
  if (roots.empty())
    throw AttestationError(util::cat("certs: no Intel SGX Root CA (self-signed) among the certificates (found: ",
                                     names(certs), ")"));
  const Certificate* root = roots.front();
  for (const auto* c : roots)
    if (c->spki_sha256() == tdx::pinned_intel_root_key_sha256()) root = c;
  const tdx::Verified v = tdx::verify(q, *root, at);
  tdx::Expectations x;
  x.mr_td = e.measurement;
  x.report_data = e.report_data;
  x.allow_debug = e.allow_debug;
  tdx::validate(q, x);
  nlohmann::ordered_json rtmr = nlohmann::ordered_json::array();
  for (const auto& m : q.rtmr) rtmr.push_back(to_hex(m));
  return {{"type", "tdx"},
          {"verdict", "verified"},
          {"verified_at", format_timestamp(at)},
          {"version", q.version},
          {"measurement", to_hex(q.mr_td)},
          {"report_data", to_hex(q.report_data)},
          {"rtmr", rtmr},
          {"mr_config_id", to_hex(q.mr_config_id)},
          {"mr_owner", to_hex(q.mr_owner)},
          {"mr_owner_config", to_hex(q.mr_owner_config)},
          {"mr_seam", to_hex(q.mr_seam)},
          {"tee_tcb_svn", to_hex(q.tee_tcb_svn)},
          {"td_attributes", {{"raw", hex_u64(q.td_attributes)}, {"debug", bool(q.td_attributes & tdx::kTdAttributeDebug)}}},
          {"xfam", hex_u64(q.xfam)},
          {"qe", {{"mr_enclave", to_hex(q.qe_report.mr_enclave)},
                  {"mr_signer", to_hex(q.qe_report.mr_signer)},
                  {"isv_prod_id", q.qe_report.isv_prod_id},
                  {"isv_svn", q.qe_report.isv_svn}}},
          {"quote_bytes", q.size},
          {"trailing_bytes_ignored", q.trailing_bytes},
          {"certificates", {{"pck", cert_json(v.pck_chain[0])}, {"pck_ca", cert_json(v.pck_chain[1])},
                            {"root", cert_json(*root)}}}};
}

}  // namespace

EvidenceType detect_evidence(std::string_view b) {
  if (b.size() == snp::kReportSize) {
    const auto version = le(b, 0, 4);
    if (version >= 2 && version <= 5 && le(b, 0x34, 4) == 1) return EvidenceType::SevSnp;
  }
  if (b.size() >= tdx::kHeaderSize && le(b, 0, 2) == 4 && le(b, 2, 2) == 2) {
    if (le(b, 4, 4) == tdx::kTeeTypeTdx) return EvidenceType::Tdx;
    throw AttestationError(util::cat("evidence: a v4 quote with tee type 0x", std::hex, le(b, 4, 4),
                                     " (SGX?); only TDX (0x81) is supported"));
  }
  throw AttestationError(util::cat("evidence: ", b.size(),
                                   " bytes that are neither an SEV-SNP report (1184 bytes, version 2-5, signature "
                                   "algorithm 1) nor a TDX v4 quote (version 4, key type 2, tee type 0x81)"));
}

std::vector<Certificate> load_certificates(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw AttestationError(util::cat("certs: ", dir.string(), " is not a directory"));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<Certificate> out;
  for (const auto& f : files) {
    if (fs::file_size(f) > (1u << 20)) throw AttestationError(util::cat("certs: ", f.string(), " is over 1 MiB"));
    std::ifstream in(f, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in) throw AttestationError(util::cat("certs: cannot read ", f.string()));
    auto certs = Certificate::parse_all(s.str(), util::cat("certs: ", f.string()));
    out.insert(out.end(), certs.begin(), certs.end());
  }
  if (out.empty()) throw AttestationError(util::cat("certs: ", dir.string(), " holds no certificate"));
  return out;
}

nlohmann::ordered_json verify_evidence(std::string_view evidence, const std::vector<Certificate>& certs, std::time_t at,
                               const EvidenceExpectations& expected) {
  VEIL_CHECK_ARG(!expected.measurement || expected.measurement->size() == 48, "expected measurement: ",
                 expected.measurement ? expected.measurement->size() : 0, " bytes, expected 48");
  VEIL_CHECK_ARG(!expected.report_data || expected.report_data->size() == 64, "expected report_data: ",
                 expected.report_data ? expected.report_data->size() : 0, " bytes, expected 64");
  return detect_evidence(evidence) == EvidenceType::SevSnp ? verify_snp(evidence, certs, at, expected)
                                                            : verify_tdx(evidence, certs, at, expected);
}

}  // namespace veil::tee
