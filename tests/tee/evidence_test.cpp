// Evidence detection and certificates recognised by content (include/veil/tee/evidence.h): files
// are named to mislead, extra families' roots are present, and the right ones are still chosen.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tee/attestation_assets.h"
#include "tee/forged_keys.h"
#include "veil/tee/evidence.h"
#include "veil/tee/timestamp.h"

namespace veil::tee {
namespace {

using namespace veil::tee::testing;
namespace fs = std::filesystem;

const std::time_t kAt = parse_timestamp("2025-01-01T00:00:00Z");

void put(const fs::path& from, const fs::path& to) { fs::copy_file(from, to, fs::copy_options::overwrite_existing); }

TEST(Evidence, CertificatesAreRecognisedByContentNotName) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const fs::path dir = veil::testing::scratch_dir();
  // Every AMD root and ASK, both chips' VCEKs, the Intel root, under names that lie.
  put(assets / "snp_milan_virtee/vcek.der", dir / "ark_milan.pem");
  put(assets / "snp_milan_gosevguest/vcek.pem", dir / "intel_root.der");
  put(assets / "amd_roots/ark_milan.pem", dir / "vcek.der");
  put(assets / "amd_roots/ask_milan.pem", dir / "x");
  put(assets / "amd_roots/ark_genoa.pem", dir / "ark_milan2.pem");
  put(assets / "amd_roots/ask_turin.pem", dir / "ask_milan2.pem");
  put(assets / "amd_roots/vcek_turin_noreport.der", dir / "y");
  put(assets / "tdx_spr/intel_sgx_root_ca.pem", dir / "z");
  const auto certs = load_certificates(dir);
  EXPECT_EQ(certs.size(), 8u);
  const auto a = verify_evidence(read_file(assets / "snp_milan_virtee/report.bin"), certs, kAt, {});
  EXPECT_EQ(a["type"], "sev-snp");
  EXPECT_EQ(a["measurement"], kVirteeMeasurement);
  EXPECT_EQ(a["certificates"]["ark"]["subject"], "ARK-Milan");
  EvidenceExpectations debug;
  debug.allow_debug = true;
  const auto b = verify_evidence(read_file(assets / "snp_milan_gosevguest/report.bin"), certs, kAt, debug);
  EXPECT_EQ(b["measurement"], kGoSevGuestMeasurement);
  EXPECT_NE(a["chip_id"], b["chip_id"]);
  const auto t = verify_evidence(read_file(assets / "tdx_spr/quote.dat"), certs, kAt, {});
  EXPECT_EQ(t["type"], "tdx");
  EXPECT_EQ(t["measurement"], kTdxMrtd);
}

TEST(Evidence, MissingOrAmbiguousCertificatesAreNamed) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  const fs::path dir = veil::testing::scratch_dir();
  put(assets / "snp_milan_virtee/vcek.pem", dir / "a");
  put(assets / "amd_roots/ark_genoa.pem", dir / "b");
  put(assets / "amd_roots/ask_genoa.pem", dir / "c");
  const std::string report = read_file(assets / "snp_milan_virtee/report.bin");
  EXPECT_EQ(refusal([&] { (void)verify_evidence(report, load_certificates(dir), kAt, {}); })
                .rfind("certs: no ASK 'SEV-Milan' among the certificates (the VCEK is a Milan one", 0),
            0u);
  EXPECT_EQ(refusal([&] { (void)verify_evidence(read_file(assets / "tdx_spr/quote.dat"), load_certificates(dir), kAt, {}); })
                .rfind("certs: no Intel SGX Root CA", 0),
            0u);
  // A look-alike ARK-Milan beside AMD's: the verifier refuses to choose between them.
  put(assets / "amd_roots/ark_milan.pem", dir / "d");
  put(assets / "amd_roots/ask_milan.pem", dir / "e");
  const auto key = new_rsa_key();
  const auto fake = self_signed("/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices/CN=ARK-Milan", key.get());
  {
    unsigned char* der = nullptr;
    const int len = i2d_X509(fake.get(), &der);
    std::ofstream(dir / "f", std::ios::binary).write(reinterpret_cast<const char*>(der), len);
    OPENSSL_free(der);
  }
  EXPECT_EQ(refusal([&] { (void)verify_evidence(report, load_certificates(dir), kAt, {}); }),
            "certs: two different certificates named 'ARK-Milan' (refusing to choose)");
  fs::remove(dir / "f");
  EXPECT_EQ(refusal([&] { (void)verify_evidence(report, load_certificates(dir), kAt, {}); }), "");
  // A bundle whose second certificate is damaged is refused, not silently cut short.
  std::string bundle = read_file(assets / "amd_roots/ask_milan.pem") + read_file(assets / "amd_roots/ark_milan.pem");
  bundle[bundle.rfind("-----BEGIN CERTIFICATE-----") + 30] = '*';  // not base64
  std::ofstream(dir / "e", std::ios::binary) << bundle;
  EXPECT_NE(refusal([&] { (void)load_certificates(dir); }).find("PEM certificate 2 of 2 is unreadable"), std::string::npos)
      << refusal([&] { (void)load_certificates(dir); });
  fs::remove(dir / "e");
  std::ofstream(dir / "notes.txt") << "not a certificate\n";
  EXPECT_EQ(refusal([&] { (void)load_certificates(dir); }).rfind("certs: " + (dir / "notes.txt").string(), 0), 0u);
}

TEST(Evidence, UnknownBytesAreNotEvidence) {
  EXPECT_EQ(refusal([] { (void)detect_evidence(std::string(100, 'x')); }).rfind("evidence: 100 bytes that are neither", 0), 0u);
  std::string sgx(48, '\0');
  sgx[0] = 4, sgx[2] = 2;  // v4 quote header, tee type 0 (SGX)
  EXPECT_NE(refusal([&] { (void)detect_evidence(sgx); }).find("only TDX"), std::string::npos);
}

}  // namespace
}  // namespace veil::tee
