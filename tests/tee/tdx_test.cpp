// The Intel TDX v4 verifier on a genuine production quote (../shared/assets/attestation/tdx_spr):
// it verifies; a flipped MRTD (or any signed) byte, a wrong or look-alike root, a tampered QE
// report, a tampered PCK chain, a swapped attestation key re-signed by the attacker and an expired
// PCK are each refused with a message naming the cause.
#include <gtest/gtest.h>

#include "tee/attestation_assets.h"
#include "tee/forged_keys.h"
#include "veil/tee/tdx.h"
#include "veil/tee/timestamp.h"

namespace veil::tee {
namespace {

using namespace veil::tee::testing;

const std::time_t kAt = parse_timestamp("2025-01-01T00:00:00Z");
constexpr std::size_t kMrTdOffset = 48 + 136;
constexpr std::size_t kAttestationKeyOffset = 636 + 64;
constexpr std::size_t kQeReportOffset = 770;

struct Assets {
  std::string quote;
  Certificate root;
};

Assets load(const std::filesystem::path& assets) {
  return {read_file(assets / "tdx_spr/quote.dat"),
          Certificate::parse_all(read_file(assets / "tdx_spr/intel_sgx_root_ca.pem"), "root").at(0)};
}

std::string check(const std::string& bytes, const Certificate& root, std::time_t at, const tdx::Expectations& e = {}) {
  return refusal([&] {
    const auto q = tdx::parse_quote(bytes);
    (void)tdx::verify(q, root, at);
    tdx::validate(q, e);
  });
}

TEST(Tdx, GenuineQuoteVerifies) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  const auto q = tdx::parse_quote(a.quote);
  EXPECT_EQ(q.size, 4935u);
  EXPECT_EQ(q.trailing_bytes, a.quote.size() - 4935);
  EXPECT_EQ(to_hex(q.mr_td), kTdxMrtd);
  EXPECT_EQ(q.qe_report.isv_prod_id, 2);
  const auto v = tdx::verify(q, a.root, kAt);
  ASSERT_EQ(v.pck_chain.size(), 3u);
  EXPECT_EQ(v.pck_chain[0].subject_cn(), "Intel SGX PCK Certificate");
  // The chain carried in the quote is the one the README cut out.
  const auto extracted = Certificate::parse_all(read_file(assets / "tdx_spr/pck_chain_extracted.pem"), "chain");
  ASSERT_EQ(extracted.size(), 3u);
  EXPECT_EQ(extracted[0].spki_sha256(), v.pck_chain[0].spki_sha256());
  tdx::Expectations e;
  e.mr_td = q.mr_td;
  for (int i = 0; i < 4; ++i) e.rtmr[i] = q.rtmr[i];
  e.report_data = q.report_data;
  EXPECT_EQ(check(a.quote, a.root, kAt, e), "");
}

TEST(Tdx, FlippedMrtdOrAnySignedByteIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  std::string mrtd = a.quote;
  mrtd[kMrTdOffset] ^= 1;
  EXPECT_EQ(check(mrtd, a.root, kAt).rfind("signature: the quote's signature does not verify", 0), 0u);
  for (std::size_t off = 0; off < tdx::kSignedSize; ++off) {
    std::string bad = a.quote;
    bad[off] ^= 0x01;
    EXPECT_NE(check(bad, a.root, kAt), "") << "offset " << off;
  }
}

TEST(Tdx, WrongOrLookAlikeRootIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  const auto ark = Certificate::parse_all(read_file(assets / "amd_roots/ark_milan.pem"), "ark").at(0);
  EXPECT_EQ(check(a.quote, ark, kAt).rfind("root: 'ARK-Milan' is not the Intel SGX Root CA", 0), 0u);
  const auto key = new_p256_key();
  const auto fake = self_signed("/CN=Intel SGX Root CA/O=Intel Corporation/L=Santa Clara/ST=CA/C=US", key.get());
  EXPECT_EQ(check(a.quote, fake, kAt).rfind("root: 'Intel SGX Root CA' is not the Intel SGX Root CA", 0), 0u);
}

TEST(Tdx, TamperedQeReportIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  for (std::size_t off : {kQeReportOffset + 64 /* mr_enclave */, kQeReportOffset + 320 /* report_data */,
                          kQeReportOffset + 384 /* its signature */}) {
    std::string bad = a.quote;
    bad[off] ^= 1;
    EXPECT_EQ(check(bad, a.root, kAt).rfind("qe_report: its signature does not verify under the PCK key", 0), 0u)
        << off;
  }
}

TEST(Tdx, AttackersAttestationKeyIsRefusedEvenWhenTheQuoteIsReSigned) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  // The attacker keeps Intel's QE report and PCK chain, puts its own key in and signs its own body
  // (MRTD of its choice). Only the QE report's binding of the attestation key stops this.
  const auto key = new_p256_key();
  std::string forged = a.quote;
  forged[kMrTdOffset] ^= 0x5a;
  forged.replace(kAttestationKeyOffset, 64, p256_xy(key.get()));
  forged.replace(636, 64, sign_p256_raw(key.get(), forged.substr(0, tdx::kSignedSize)));
  EXPECT_EQ(check(forged, a.root, kAt).rfind("qe_report: its report_data is not SHA-256(attestation key", 0), 0u);
}

TEST(Tdx, TamperedPckChainIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  const std::size_t pem = a.quote.find("-----BEGIN CERTIFICATE-----");
  ASSERT_NE(pem, std::string::npos);
  // One base64 digit inside the PCK certificate's signed part (its subject and extensions).
  for (std::size_t delta : {300u, 600u, 900u}) {
    std::string bad = a.quote;
    char& c = bad[pem + 28 + delta];
    c = c == 'A' ? 'B' : 'A';
    EXPECT_NE(check(bad, a.root, kAt).find("PCK"), std::string::npos) << delta << ": " << check(bad, a.root, kAt);
    if (delta == 900u) {  // still a well-formed certificate: only its signature catches the change
      EXPECT_EQ(check(bad, a.root, kAt).rfind("signature of the PCK certificate 'Intel SGX PCK Certificate' does not "
                                              "verify under the PCK CA",
                                              0),
                0u);
    }
  }
  // The PCK CA in place of the PCK (a chain cut short).
  const auto q = tdx::parse_quote(a.quote);
  const std::size_t second = q.pck_chain_pem.find("-----BEGIN CERTIFICATE-----", 1);
  std::string shorter = a.quote;
  shorter.replace(pem, second, std::string(second, '\n'));
  EXPECT_NE(check(shorter, a.root, kAt).find("PCK chain: "), std::string::npos) << check(shorter, a.root, kAt);
}

TEST(Tdx, ExpiredPckAndWrongExpectationsAreRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);  // PCK: 2022-09-20T13:20:31Z .. 2029-09-20T13:20:31Z
  EXPECT_EQ(check(a.quote, a.root, parse_timestamp("2029-09-21T00:00:00Z"))
                .rfind("PCK certificate 'Intel SGX PCK Certificate' expired before", 0),
            0u);
  EXPECT_EQ(check(a.quote, a.root, parse_timestamp("2022-09-01T00:00:00Z"))
                .rfind("PCK certificate 'Intel SGX PCK Certificate' is not yet valid", 0),
            0u);
  const auto q = tdx::parse_quote(a.quote);
  tdx::Expectations m;
  m.mr_td = std::string(48, '\0');
  EXPECT_EQ(check(a.quote, a.root, kAt, m).rfind(util::cat("mr_td: the quote has ", kTdxMrtd), 0), 0u);
  tdx::Expectations r;
  r.rtmr[2] = q.rtmr[1];
  EXPECT_EQ(check(a.quote, a.root, kAt, r).rfind("rtmr2: ", 0), 0u);
  tdx::Expectations d;
  d.report_data = std::string(64, '\1');
  EXPECT_EQ(check(a.quote, a.root, kAt, d).rfind("report_data: the quote has 6c62dec1", 0), 0u);
  tdx::Quote debug = q;  // validation alone: a TD with DEBUG set
  debug.td_attributes |= tdx::kTdAttributeDebug;
  EXPECT_EQ(refusal([&] { tdx::validate(debug, {}); }).rfind("td_attributes: 0x40000001 has DEBUG", 0), 0u);
}

TEST(Tdx, TruncatedQuotesAreRefusedByTheParser) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Assets a = load(assets);
  for (std::size_t n : {0u, 47u, 48u, 632u, 635u, 636u, 700u, 1000u, 4934u}) {
    const std::string msg = refusal([&] { (void)tdx::parse_quote(a.quote.substr(0, n)); });
    EXPECT_EQ(msg.rfind("tdx quote: ", 0), 0u) << n << ": " << msg;
  }
}

}  // namespace
}  // namespace veil::tee
