// Simulated attestation: reports round-trip and verify; a wrong measurement, a wrong nonce or any
// altered field is refused with a message naming the problem.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "veil/tee/attestation.h"

namespace veil::tee {
namespace {

std::string refusal(const AttestationReport& r, const Expectation& e) {
  try {
    verifier_for(r)->verify(r, e);
  } catch (const AttestationError& err) {
    return err.what();
  }
  return "";
}

struct Fixture {
  SimulatedAttester attester;
  nlohmann::json config = {{"design", "obfuscatune"}, {"options", {{"matrix", "orthogonal"}}}};
  std::string measurement = measure_self(config);
  std::string key = random_bytes(32), nonce = random_bytes(32);
  AttestationReport report = attester.attest(measurement, config.dump(), key, nonce);
};

TEST(Attestation, MeasurementCoversBinaryAndConfig) {
  nlohmann::json a = {{"design", "obfuscatune"}}, b = {{"design", "plain"}};
  EXPECT_EQ(measure_self(a), measure_self(a));
  EXPECT_EQ(measure_self(a).size(), 64u);
  EXPECT_NE(measure_self(a), measure_self(b));
  EXPECT_THROW((void)measure("/nonexistent/veil", a), std::runtime_error);
}

TEST(Attestation, RoundTripVerifies) {
  Fixture f;
  EXPECT_TRUE(f.report.simulated);
  const auto parsed = AttestationReport::from_json(f.report.to_json());
  EXPECT_EQ(parsed.to_json(), f.report.to_json());
  EXPECT_EQ(parsed.hash(), f.report.hash());
  EXPECT_EQ(nlohmann::json::parse(parsed.to_json()).at("simulated"), true);
  EXPECT_EQ(refusal(parsed, {f.measurement, f.nonce}), "");
}

TEST(Attestation, WrongMeasurementRefused) {
  Fixture f;
  auto other = measure_self({{"design", "obfuscatune"}, {"options", {{"matrix", "gaussian"}}}});
  EXPECT_NE(refusal(f.report, {other, f.nonce}).find("measurement mismatch"), std::string::npos);
}

TEST(Attestation, WrongNonceRefused) {
  Fixture f;
  EXPECT_NE(refusal(f.report, {f.measurement, random_bytes(32)}).find("nonce mismatch"), std::string::npos);
}

TEST(Attestation, TamperedReportRefused) {
  Fixture f;
  for (const char* field : {"measurement", "enclave_key", "nonce", "config"}) {
    auto j = nlohmann::json::parse(f.report.to_json());
    if (std::string(field) == "config")
      j["config"]["options"]["matrix"] = "identity";
    else if (std::string(field) == "measurement")
      j[field] = std::string(64, 'a');
    else
      j[field] = to_hex(random_bytes(32));
    const auto r = AttestationReport::from_json(j.dump());
    // An attacker who swaps the key or config keeps the expected measurement and nonce.
    EXPECT_NE(refusal(r, {std::string(field) == "measurement" ? std::string(64, 'a') : f.measurement,
                          std::string(field) == "nonce" ? r.nonce : f.nonce})
                  .find("signature does not verify"),
              std::string::npos)
        << field;
  }
  EXPECT_THROW((void)AttestationReport::from_json("{not json"), AttestationError);
  EXPECT_THROW((void)AttestationReport::from_json(R"({"format":"other"})"), AttestationError);
  auto j = nlohmann::json::parse(f.report.to_json());
  j.erase("signature");
  EXPECT_THROW((void)AttestationReport::from_json(j.dump()), AttestationError);
}

TEST(Attestation, SimulatedCanBeForbidden) {
  Fixture f;
  Expectation e{f.measurement, f.nonce, false};
  EXPECT_NE(refusal(f.report, e).find("SIMULATED"), std::string::npos);
  auto r = f.report;
  r.kind = "sev-snp";
  EXPECT_THROW((void)verifier_for(r), AttestationError);
}

}  // namespace
}  // namespace veil::tee
