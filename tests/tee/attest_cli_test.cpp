// `veil attest verify` as a user runs it: the built binary on the genuine evidence, printing one
// JSON object and exiting 0, or one line naming the cause and exiting non-zero.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include "support/child_process.h"
#include "tee/attestation_assets.h"

namespace veil::tee {
namespace {

using namespace veil::tee::testing;
namespace fs = std::filesystem;

// $VEIL_BINARY_DIR/bin/veil, else bin/veil of the build tree this test lives in (build/X/tests/tee/).
fs::path veil() {
  if (const char* dir = std::getenv("VEIL_BINARY_DIR"); dir && fs::exists(fs::path(dir) / "bin/veil"))
    return fs::path(dir) / "bin/veil";
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path().parent_path().parent_path() / "bin" / "veil";
}

struct Result {
  int code;
  std::string out, err;
};

Result run(std::vector<std::string> args) {
  args.insert(args.begin(), {veil().string(), "attest", "verify"});
  static int n = 0;  // logs beside, never inside, the test's scratch directory (scratch_dir() empties it)
  const fs::path logs = fs::temp_directory_path() / ("veil-attest-cli-logs-" + std::to_string(::getpid()));
  fs::create_directories(logs);
  const fs::path log = logs / std::to_string(n++);
  veil::testing::Child child(args, log);
  const auto code = child.wait(std::chrono::seconds(60));
  Result r{code.value_or(-1), child.out(), child.err()};
  fs::remove(log.string() + ".out");
  fs::remove(log.string() + ".err");
  return r;
}

#define REQUIRE_VEIL()                                              \
  if (!fs::exists(veil())) GTEST_SKIP() << "veil binary not built"

TEST(AttestCli, GenuineEvidenceVerifiesAndPrintsOneJsonObject) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  REQUIRE_VEIL();
  const fs::path certs = fs::temp_directory_path() / ("veil-attest-cli-" + std::to_string(::getpid()));
  fs::create_directories(certs);
  fs::copy_file(assets / "snp_milan_virtee/vcek.der", certs / "root.pem", fs::copy_options::overwrite_existing);
  for (const char* f : {"ark_milan.pem", "ask_milan.pem", "ark_genoa.pem", "ask_genoa.pem"})
    fs::copy_file(assets / "amd_roots" / f, certs / (std::string("cert-") + f + ".der"), fs::copy_options::overwrite_existing);
  fs::copy_file(assets / "tdx_spr/intel_sgx_root_ca.pem", certs / "vcek.der", fs::copy_options::overwrite_existing);
  const std::string report = (assets / "snp_milan_virtee/report.bin").string();
  auto r = run({"--evidence", report, "--certs", certs.string(), "--at", "2025-01-01T00:00:00Z",
                "--expect-measurement", kVirteeMeasurement});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["type"], "sev-snp");
  EXPECT_EQ(j["verdict"], "verified");
  EXPECT_EQ(j["measurement"], kVirteeMeasurement);
  EXPECT_EQ(j["policy"]["raw"], "0x30000");
  EXPECT_EQ(j["reported_tcb"]["raw"], "0x7308000000000003");
  EXPECT_EQ(j["verified_at"], "2025-01-01T00:00:00Z");

  r = run({"--evidence", (assets / "tdx_spr/quote.dat").string(), "--certs", certs.string(), "--at",
           "2025-01-01T00:00:00Z", "--expect-measurement", kTdxMrtd});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["type"], "tdx");

  // Refusals: one line on stderr naming the cause, exit 2 (bad input), nothing on stdout.
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"--at", "2031-01-01T00:00:00Z"}, "VCEK 'SEV-VCEK' expired before 2031-01-01T00:00:00Z"},
      {{"--at", "2025-01-01T00:00:00Z", "--expect-measurement", std::string(96, '0')}, "measurement: the report has"},
      {{"--at", "2025-01-01T00:00:00Z", "--report-data", std::string(128, '0')}, "report_data: the report has"}};
  for (const auto& [extra, cause] : refused) {
    std::vector<std::string> args = {"--evidence", report, "--certs", certs.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    r = run(args);
    EXPECT_EQ(r.code, 2) << cause;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("veil: error: attestation refused: " + cause, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  fs::remove_all(certs);
}

TEST(AttestCli, OtherChipWrongFamilyDebugPolicyAndBadInputAreRefused) {
  VEIL_REQUIRE_ATTESTATION_ASSETS(assets);
  REQUIRE_VEIL();
  const fs::path dir = veil::testing::scratch_dir();
  const fs::path other = dir / "other", genoa = dir / "genoa", go = dir / "go";
  for (const auto& d : {other, genoa, go}) fs::create_directories(d);
  fs::copy_file(assets / "snp_milan_gosevguest/vcek.der", other / "a");
  fs::copy_file(assets / "snp_milan_gosevguest/vcek.der", go / "a");
  for (const char* f : {"ark_milan.pem", "ask_milan.pem"}) {
    fs::copy_file(assets / "amd_roots" / f, other / f);
    fs::copy_file(assets / "amd_roots" / f, go / f);
  }
  fs::copy_file(assets / "snp_milan_virtee/vcek.pem", genoa / "a");
  for (const char* f : {"ark_genoa.pem", "ask_genoa.pem", "ark_turin.pem", "ask_turin.pem"})
    fs::copy_file(assets / "amd_roots" / f, genoa / f);
  const std::string virtee = (assets / "snp_milan_virtee/report.bin").string();
  const std::string at = "2025-01-01T00:00:00Z";

  auto r = run({"--evidence", virtee, "--certs", other.string(), "--at", at});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("veil: error: attestation refused: chip_id: ", 0), 0u) << r.err;
  r = run({"--evidence", virtee, "--certs", genoa.string(), "--at", at});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("veil: error: attestation refused: certs: no ASK 'SEV-Milan'", 0), 0u) << r.err;
  const std::string gosev = (assets / "snp_milan_gosevguest/report.bin").string();
  r = run({"--evidence", gosev, "--certs", go.string(), "--at", at});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("veil: error: attestation refused: policy: 0xb0000 allows debugging", 0), 0u) << r.err;
  r = run({"--evidence", gosev, "--certs", go.string(), "--at", at, "--allow-debug"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["measurement"], kGoSevGuestMeasurement);

  r = run({"--evidence", (assets / "README.md").string(), "--certs", go.string(), "--at", at});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("attestation refused: evidence: "), std::string::npos) << r.err;
  r = run({"--evidence", virtee, "--certs", go.string(), "--expect-measurement", "abc"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--expect-measurement: expected 96 hex digits"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace veil::tee
