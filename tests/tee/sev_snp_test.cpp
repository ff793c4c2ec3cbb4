// The AMD SEV-SNP verifier on the genuine reports of two Milan chips (../shared/assets/attestation):
// both verify; any changed byte of the signed body, another chip's VCEK, another family's or a
// look-alike ARK, a time outside the VCEK's validity, a debuggable policy and a wrong expected
// measurement or report_data are each refused with a message naming the cause.
#include <gtest/gtest.h>

#include "tee/attestation_assets.h"
#include "tee/forged_keys.h"
#include "veil/tee/sev_snp.h"
#include "veil/tee/timestamp.h"

namespace veil::tee {
namespace {

using namespace veil::tee::testing;
namespace fs = std::filesystem;

const std::time_t kAt = parse_timestamp("2025-01-01T00:00:00Z");

Certificate cert(const fs::path& p) { return Certificate::parse_all(read_file(p), p.string()).at(0); }

struct Chip {
  std::string report;
  snp::Certs certs;
};

Chip load(const fs::path& assets, const char* folder) {
  return {read_file(assets / folder / "report.bin"),
          {cert(assets / folder / "vcek.der"), cert(assets / "amd_roots/ask_milan.pem"),
           cert(assets / "amd_roots/ark_milan.pem")}};
}

std::string verify_and_validate(const std::string& bytes, const snp::Certs& certs, std::time_t at,
                                const snp::Expectations& e = {}) {
  return refusal([&] {
    const auto r = snp::parse_report(bytes);
    const auto v = snp::verify(r, certs, at);
    snp::validate(r, v.product, e);
  });
}

TEST(SevSnp, GenuineReportsOfTwoMilanChipsVerify) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip virtee = load(assets, "snp_milan_virtee");
  const auto r = snp::parse_report(virtee.report);
  const auto v = snp::verify(r, virtee.certs, kAt);
  EXPECT_EQ(v.product, snp::Product::Milan);
  EXPECT_EQ(to_hex(r.measurement), kVirteeMeasurement);
  EXPECT_EQ(r.policy, 0x30000u);
  EXPECT_EQ(r.reported_tcb, 0x7308000000000003u);
  EXPECT_EQ(v.reported_tcb.microcode, 0x73);
  EXPECT_EQ(v.reported_tcb.snp, 8);
  EXPECT_EQ(v.reported_tcb.bootloader, 3);
  snp::Expectations e;
  e.measurement = r.measurement;
  e.report_data = r.report_data;
  e.vmpl = 0;
  e.minimum_tcb = snp::decode_tcb(0x7308000000000003, snp::Product::Milan);
  EXPECT_NO_THROW(snp::validate(r, v.product, e));

  const Chip go = load(assets, "snp_milan_gosevguest");
  const auto g = snp::parse_report(go.report);
  EXPECT_EQ(snp::verify(g, go.certs, kAt).reported_tcb.raw, 0x4405000000000002u);
  EXPECT_EQ(to_hex(g.measurement), kGoSevGuestMeasurement);
  EXPECT_EQ(to_hex(g.report_data.substr(0, 6)), "010203040500");
  EXPECT_EQ(g.report_data.substr(5), std::string(59, '\0'));
  EXPECT_NE(g.chip_id, r.chip_id);
}

TEST(SevSnp, DebuggablePolicyIsRefusedUnlessAllowed) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip go = load(assets, "snp_milan_gosevguest");  // policy 0xb0000: bit 19 (debug) set
  EXPECT_NE(verify_and_validate(go.report, go.certs, kAt).find("policy: 0xb0000 allows debugging"), std::string::npos);
  snp::Expectations allow;
  allow.allow_debug = true;
  EXPECT_EQ(verify_and_validate(go.report, go.certs, kAt, allow), "");
}

TEST(SevSnp, AnyChangedByteOfTheSignedBodyIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip chip = load(assets, "snp_milan_virtee");
  ASSERT_EQ(verify_and_validate(chip.report, chip.certs, kAt), "");
  for (std::size_t off = 0; off < snp::kSignedSize; ++off) {
    std::string bad = chip.report;
    bad[off] = static_cast<char>(bad[off] ^ 0x01);
    EXPECT_NE(verify_and_validate(bad, chip.certs, kAt), "") << "offset 0x" << std::hex << off;
  }
  // Named causes: data fields reach the signature check; TCB and chip id are caught before it.
  const std::pair<std::size_t, const char*> cases[] = {
      {0x50, "signature: "},  {0x8F, "signature: "}, {0x90, "signature: "},   {0xBF, "signature: "},
      {0xC0, "signature: "},  {0x04, "signature: "}, {0x140, "signature: "},  {0x180, "reported_tcb: "},
      {0x1A0, "chip_id: "},   {0x001, "sev-snp report: version"},            {0x1F8, "sev-snp report: reserved byte"}};
  for (const auto& [off, cause] : cases) {
    std::string bad = chip.report;
    bad[off] = static_cast<char>(bad[off] ^ 0x01);
    EXPECT_EQ(verify_and_validate(bad, chip.certs, kAt).rfind(cause, 0), 0u)
        << "offset 0x" << std::hex << off << ": " << verify_and_validate(bad, chip.certs, kAt);
  }
  std::string sig = chip.report;  // the signature itself
  sig[0x2A0] ^= 1;
  EXPECT_EQ(verify_and_validate(sig, chip.certs, kAt).rfind("signature: ", 0), 0u);
}

TEST(SevSnp, VcekOfTheOtherChipIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  Chip a = load(assets, "snp_milan_virtee");
  const Chip b = load(assets, "snp_milan_gosevguest");
  a.certs.vcek = b.certs.vcek;
  EXPECT_EQ(verify_and_validate(a.report, a.certs, kAt).rfind("chip_id: ", 0), 0u);
  // Even a report whose chip id and TCB were rewritten to the other chip's fails: the signature.
  std::string forged = a.report;
  forged.replace(0x180, 8, b.report.substr(0x180, 8));
  forged.replace(0x1A0, 64, b.report.substr(0x1A0, 64));
  EXPECT_EQ(verify_and_validate(forged, a.certs, kAt).rfind("signature: ", 0), 0u);
}

TEST(SevSnp, WrongFamilyOrLookAlikeArkIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  Chip chip = load(assets, "snp_milan_virtee");
  for (const char* family : {"genoa", "turin"}) {
    snp::Certs c = chip.certs;
    c.ark = cert(assets / util::cat("amd_roots/ark_", family, ".pem"));
    c.ask = cert(assets / util::cat("amd_roots/ask_", family, ".pem"));
    EXPECT_EQ(verify_and_validate(chip.report, c, kAt).rfind("ARK: the VCEK is for Milan but the ARK is 'ARK-", 0), 0u)
        << family;
  }
  snp::Certs mixed = chip.certs;  // Milan ARK, Genoa ASK
  mixed.ask = cert(assets / "amd_roots/ask_genoa.pem");
  EXPECT_EQ(verify_and_validate(chip.report, mixed, kAt).rfind("ASK: the VCEK is for Milan but the ASK is 'SEV-Genoa'", 0), 0u);
  // An attacker's self-signed root with AMD's exact name is not AMD's key.
  const auto key = new_rsa_key();
  snp::Certs fake = chip.certs;
  fake.ark = self_signed("/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices/CN=ARK-Milan", key.get());
  EXPECT_NE(verify_and_validate(chip.report, fake, kAt).find("ARK: 'ARK-Milan' is not AMD's"), std::string::npos);
  snp::Certs swapped = chip.certs;  // the ASK given as the ARK
  swapped.ark = chip.certs.ask;
  EXPECT_EQ(verify_and_validate(chip.report, swapped, kAt).rfind("ARK: ", 0), 0u);
}

TEST(SevSnp, ACompleteForgedChainWithAmdsNamesIsRefusedByThePinnedRoot) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip chip = load(assets, "snp_milan_virtee");
  // The attacker builds ARK-Milan -> SEV-Milan -> SEV-VCEK with AMD's names, algorithms and the
  // genuine VCEK's hwID and TCB extensions, and signs a report with the measurement it wants.
  const std::string amd = "/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices/CN=";
  const auto ark_key = new_rsa_key(), ask_key = new_rsa_key();
  const PkeyPtr vcek_key(EVP_EC_gen("P-384"), EVP_PKEY_free);
  snp::Certs forged{issue(amd + "SEV-VCEK", vcek_key.get(), amd + "SEV-Milan", ask_key.get(), true, chip.certs.vcek.get()),
                    issue(amd + "SEV-Milan", ask_key.get(), amd + "ARK-Milan", ark_key.get(), true),
                    issue(amd + "ARK-Milan", ark_key.get(), amd + "ARK-Milan", ark_key.get(), true)};
  std::string report = chip.report;
  report[0x90] ^= 0x5a;  // the attacker's measurement
  report.replace(0x2A0, 144, sign_p384_snp(vcek_key.get(), report.substr(0, snp::kSignedSize)));
  // Every link and the report signature verify: a verifier trusting the ARK it is handed accepts.
  EXPECT_NO_THROW(forged.ark.verify_issued_by(forged.ark, "ARK", "ARK", kAt));
  EXPECT_NO_THROW(forged.ask.verify_issued_by(forged.ark, "ASK", "ARK", kAt));
  EXPECT_NO_THROW(forged.vcek.verify_issued_by(forged.ask, "VCEK", "ASK", kAt));
  EXPECT_EQ(forged.vcek.signature_algorithm(), "rsassa-pss/sha384/mgf1-sha384/salt48");
  const auto parsed = snp::parse_report(report);
  EXPECT_TRUE(verify_ecdsa_raw(forged.vcek.public_key(), "SHA384", parsed.signed_bytes, parsed.signature_r,
                               parsed.signature_s));
  // Only the pinned AMD root key stops it.
  EXPECT_EQ(verify_and_validate(report, forged, kAt).rfind("ARK: 'ARK-Milan' is not AMD's", 0), 0u)
      << verify_and_validate(report, forged, kAt);
  // With AMD's genuine ARK (and ASK) but the forged VCEK, the ASK's signature fails.
  snp::Certs half = chip.certs;
  half.vcek = forged.vcek;
  EXPECT_EQ(verify_and_validate(report, half, kAt).rfind("signature of the VCEK 'SEV-VCEK' does not verify under the ASK", 0), 0u)
      << verify_and_validate(report, half, kAt);
}

TEST(SevSnp, VerificationTimeOutsideTheVcekValidityIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip chip = load(assets, "snp_milan_virtee");  // VCEK: 2023-04-03T19:23:43Z .. 2030-04-03T19:23:43Z
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, parse_timestamp("2023-04-03T19:23:43Z")), "");
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, parse_timestamp("2030-04-03T19:23:43Z")), "");
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, parse_timestamp("2030-04-03T19:23:44Z"))
                .rfind("VCEK 'SEV-VCEK' expired before 2030-04-03T19:23:44Z", 0),
            0u);
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, parse_timestamp("2023-04-03T19:23:42Z"))
                .rfind("VCEK 'SEV-VCEK' is not yet valid", 0),
            0u);
}

TEST(SevSnp, WrongExpectedMeasurementOrReportDataIsRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const Chip chip = load(assets, "snp_milan_virtee");
  snp::Expectations e;
  e.measurement = from_hex(kVirteeMeasurement);
  (*e.measurement)[47] ^= 1;
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, kAt, e).rfind(util::cat("measurement: the report has ", kVirteeMeasurement), 0), 0u);
  snp::Expectations d;
  d.report_data = std::string(64, '\0');
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, kAt, d).rfind("report_data: the report has d447b55d", 0), 0u);
  snp::Expectations t;
  t.minimum_tcb = snp::decode_tcb(0x7309000000000003, snp::Product::Milan);  // snp 9 > 8
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, kAt, t), "reported_tcb: snp 8 is below the minimum 9");
  snp::Expectations v;
  v.vmpl = 1;
  EXPECT_EQ(verify_and_validate(chip.report, chip.certs, kAt, v), "vmpl: the report has 0, expected 1");
}

TEST(SevSnp, MalformedReportsAreRefusedByTheParser) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const std::string good = read_file(assets / "snp_milan_virtee/report.bin");
  EXPECT_EQ(refusal([&] { (void)snp::parse_report(good.substr(0, 1183)); }), "sev-snp report: 1183 bytes, expected 1184");
  EXPECT_EQ(refusal([&] { (void)snp::parse_report(good + '\0'); }), "sev-snp report: 1185 bytes, expected 1184");
  std::string algo = good;
  algo[0x34] = 2;
  EXPECT_EQ(refusal([&] { (void)snp::parse_report(algo); }),
            "sev-snp report: signature_algo 2 is not 1 (ECDSA P-384 with SHA-384)");
  std::string high = good;  // r's unused high bytes must be zero
  high[0x2A0 + 50] = 1;
  EXPECT_NE(refusal([&] { (void)snp::parse_report(high); }).find("signature r"), std::string::npos);
  std::string masked = good;
  masked[0x48] = 2;  // MASK_CHIP_ID: no VCEK can be matched
  EXPECT_EQ(refusal([&] {
              const Chip chip = load(assets, "snp_milan_virtee");
              (void)snp::verify(snp::parse_report(masked), chip.certs, kAt);
            }).rfind("chip_id: the report masks its chip id", 0),
            0u);
  std::string vlek = good;
  vlek[0x48] = 4;  // signing_key = 1: VLEK
  EXPECT_EQ(refusal([&] {
              const Chip chip = load(assets, "snp_milan_virtee");
              (void)snp::verify(snp::parse_report(vlek), chip.certs, kAt);
            }).rfind("signing_key: ", 0),
            0u);
}

}  // namespace
}  // namespace veil::tee
