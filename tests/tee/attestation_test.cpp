// Simulated attestation: reports round-trip and verify under the PINNED signer key only; a wrong
// measurement, nonce, session or model, any altered field (even re-signed with another key) and
// any simulated report without --allow-simulated are refused with a message naming the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

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
  std::string key = random_bytes(32), nonce = random_bytes(32), session = random_bytes(16), model = random_bytes(32);
  AttestationReport report = attester.attest({measurement, config.dump(), key, nonce, session, model});
  // What a verifier that allows simulated reports and pinned this attester's key expects.
  [[nodiscard]] Expectation expect() const {
    Expectation e;
    e.measurement = measurement;
    e.nonce = nonce;
    e.allow_simulated = true;
    e.signer_key = attester.public_key();
    return e;
  }
};

// Re-signs `r` (its signer_key set to the forger's) with a fresh Ed25519 key: what someone who
// runs their own attester, or edits a report, can produce.
AttestationReport resign(AttestationReport r, bool swap_signer_key = true) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  std::string pub(32, '\0');
  std::size_t len = 32;
  EXPECT_EQ(EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(pub.data()), &len), 1);
  if (swap_signer_key) r.signer_key = pub;
  const std::string body = r.body();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  r.signature.assign(64, '\0');
  len = 64;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(r.signature.data()), &len,
                           reinterpret_cast<const unsigned char*>(body.data()), body.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return r;
}

TEST(Attestation, MeasurementCoversBinaryAndConfig) {
  nlohmann::json a = {{"design", "obfuscatune"}}, b = {{"design", "plain"}};
  EXPECT_EQ(measure_self(a), measure_self(a));
  EXPECT_EQ(measure_self(a).size(), 64u);
  EXPECT_NE(measure_self(a), measure_self(b));
  EXPECT_THROW((void)measure("/nonexistent/veil", a), std::runtime_error);
}

// The measurement covers the shared objects the process was started with, by content: a library
// changed by one byte changes it; where the library lies and the order it is listed in do not.
TEST(Attestation, MeasurementCoversSharedObjectsByContent) {
  const auto& loaded = startup_shared_objects();
  bool libtorch = false, libssl = false;
  for (const auto& p : loaded) {
    libtorch = libtorch || p.filename().string().rfind("libtorch", 0) == 0;
    libssl = libssl || p.filename().string().rfind("libssl", 0) == 0;
  }
  EXPECT_TRUE(libtorch && libssl) << loaded.size() << " objects";
  nlohmann::json c = {{"design", "obfuscatune"}};
  EXPECT_NE(measure_self(c), measure("/proc/self/exe", c)) << "the libraries must count";
  EXPECT_EQ(measure_self(c), measure("/proc/self/exe", loaded, c));

  const auto dir = std::filesystem::temp_directory_path() / ("veil_measure_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  auto write = [](const std::filesystem::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; };
  write(dir / "bin", "binary");
  write(dir / "a/libx.so", std::string(3000, 'x'));
  write(dir / "a/liby.so", "y");
  write(dir / "b/libx.so", std::string(3000, 'x'));
  const auto base = measure(dir / "bin", {dir / "a/libx.so", dir / "a/liby.so"}, c);
  EXPECT_EQ(base, measure(dir / "bin", {dir / "a/liby.so", dir / "a/libx.so"}, c));  // order
  EXPECT_EQ(base, measure(dir / "bin", {dir / "b/libx.so", dir / "a/liby.so"}, c));  // directory
  EXPECT_NE(base, measure(dir / "bin", {dir / "a/libx.so"}, c));                     // a library missing
  std::string changed(3000, 'x');
  changed[1234] = 'X';
  write(dir / "b/libx.so", changed);
  EXPECT_NE(base, measure(dir / "bin", {dir / "b/libx.so", dir / "a/liby.so"}, c));  // one byte
  EXPECT_THROW((void)measure(dir / "bin", {dir / "a/missing.so"}, c), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(Attestation, RoundTripVerifies) {
  Fixture f;
  EXPECT_TRUE(f.report.simulated);
  const auto parsed = AttestationReport::from_json(f.report.to_json());
  EXPECT_EQ(parsed.to_json(), f.report.to_json());
  EXPECT_EQ(parsed.hash(), f.report.hash());
  EXPECT_EQ(nlohmann::json::parse(parsed.to_json()).at("simulated"), true);
  EXPECT_EQ(refusal(parsed, f.expect()), "");
  EXPECT_EQ(parsed.session, f.session);
  EXPECT_EQ(parsed.model_hash, f.model);
  EXPECT_EQ(parsed.report_data, report_data_for(f.key, f.nonce, f.model, f.session));
  auto e = f.expect();
  e.session = f.session;
  e.model_hash = f.model;
  EXPECT_EQ(refusal(parsed, e), "");
}

TEST(Attestation, WrongSessionOrModelRefused) {
  Fixture f;
  auto e = f.expect();
  e.session = random_bytes(16);
  EXPECT_NE(refusal(f.report, e).find("session mismatch"), std::string::npos);
  e = f.expect();
  e.model_hash = random_bytes(32);
  EXPECT_NE(refusal(f.report, e).find("model mismatch"), std::string::npos);
  // A report made before any model was sealed names none.
  auto empty = f.attester.attest({f.measurement, f.config.dump(), f.key, f.nonce, f.session, ""});
  EXPECT_NE(refusal(empty, e).find("(none yet)"), std::string::npos);
}

TEST(Attestation, WrongMeasurementRefused) {
  Fixture f;
  auto other = measure_self({{"design", "obfuscatune"}, {"options", {{"matrix", "gaussian"}}}});
  auto e = f.expect();
  e.measurement = other;
  EXPECT_NE(refusal(f.report, e).find("measurement mismatch"), std::string::npos);
}

TEST(Attestation, WrongNonceRefused) {
  Fixture f;
  auto e = f.expect();
  e.nonce = random_bytes(32);
  EXPECT_NE(refusal(f.report, e).find("nonce mismatch"), std::string::npos);
}

TEST(Attestation, TamperedReportRefused) {
  Fixture f;
  for (const char* field : {"measurement", "enclave_key", "nonce", "config", "model_hash", "session"}) {
    auto j = nlohmann::json::parse(f.report.to_json());
    const std::string name = field;
    if (name == "config")
      j["config"]["options"]["matrix"] = "identity";
    else if (name == "measurement")
      j[field] = std::string(64, 'a');
    else if (name == "session")
      j[field] = to_hex(random_bytes(16));
    else
      j[field] = to_hex(random_bytes(32));
    auto r = AttestationReport::from_json(j.dump());
    // An attacker who swaps the key, config or model keeps the expected measurement and nonce.
    auto e = f.expect();
    if (name == "measurement") e.measurement = std::string(64, 'a');
    if (name == "nonce") e.nonce = r.nonce;
    // Left unsigned: the pinned key's signature no longer covers it.
    EXPECT_NE(refusal(r, e).find("signature does not verify"), std::string::npos) << field;
    // Re-signed by the forger's key and naming it: not the pinned key.
    EXPECT_NE(refusal(resign(r), e).find("not the pinned attestation key"), std::string::npos) << field;
    // Re-signed by the forger's key but still naming the genuine one: the signature fails.
    EXPECT_NE(refusal(resign(r, false), e).find("signature does not verify"), std::string::npos) << field;
    // report_data recomputed and re-signed: still the forger's key.
    r.report_data = report_data_for(r.enclave_key, r.nonce, r.model_hash, r.session);
    EXPECT_NE(refusal(resign(r), e).find("not the pinned attestation key"), std::string::npos) << field;
  }
  // A report whose report_data does not bind its fields, signed by the pinned key, is refused too.
  auto r = f.report;
  r.report_data = random_bytes(32);
  EXPECT_NE(refusal(r, f.expect()).find("signature does not verify"), std::string::npos);
  EXPECT_THROW((void)AttestationReport::from_json("{not json"), AttestationError);
  EXPECT_THROW((void)AttestationReport::from_json(R"({"format":"other"})"), AttestationError);
  auto j = nlohmann::json::parse(f.report.to_json());
  j.erase("signature");
  EXPECT_THROW((void)AttestationReport::from_json(j.dump()), AttestationError);
}

TEST(Attestation, ForgedSimulatedReportRefusedUnlessAllowedAndPinned) {
  Fixture f;
  // A forger runs its own simulated attester: a well-formed report for the expected measurement and
  // nonce, with its own key and a model of its choosing.
  SimulatedAttester forger;
  const auto forged = forger.attest({f.measurement, f.config.dump(), random_bytes(32), f.nonce, f.session, random_bytes(32)});
  Expectation strict;  // the default: simulated reports refused
  strict.measurement = f.measurement;
  strict.nonce = f.nonce;
  EXPECT_NE(refusal(forged, strict).find("simulated reports are refused"), std::string::npos);
  EXPECT_NE(refusal(f.report, strict).find("--allow-simulated"), std::string::npos);  // genuine too
  auto unpinned = f.expect();
  unpinned.signer_key.clear();
  EXPECT_NE(refusal(forged, unpinned).find("no attestation key is pinned"), std::string::npos);
  EXPECT_NE(refusal(forged, f.expect()).find("not the pinned attestation key"), std::string::npos);
  // With the genuine key pinned and simulated reports allowed, the genuine report passes with the warning.
  ::testing::internal::CaptureStderr();
  const auto ok = refusal(f.report, f.expect());
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ok, "");
  EXPECT_NE(err.find(kSimulatedWarning), std::string::npos) << err;
  EXPECT_NE(err.find("does NOT"), std::string::npos) << err;
}

TEST(Attestation, PinnedKeyReadFromHexOrFile) {
  Fixture f;
  const std::string hex = to_hex(f.attester.public_key());
  EXPECT_EQ(read_attestation_key(hex), f.attester.public_key());
  const auto file = std::filesystem::temp_directory_path() / ("veil-att-key-" + to_hex(random_bytes(4)));
  {
    std::ofstream(file) << hex << "\n";
  }
  EXPECT_EQ(read_attestation_key(file.string()), f.attester.public_key());
  std::filesystem::remove(file);
  EXPECT_THROW((void)read_attestation_key("abcd"), std::invalid_argument);
  EXPECT_THROW((void)read_attestation_key(std::string(64, 'z')), std::invalid_argument);
}

TEST(Attestation, SimulatedCanBeForbidden) {
  Fixture f;
  auto e = f.expect();
  e.allow_simulated = false;
  EXPECT_NE(refusal(f.report, e).find("SIMULATED"), std::string::npos);
  auto r = f.report;
  r.kind = "sev-snp";
  EXPECT_THROW((void)verifier_for(r), AttestationError);
}

}  // namespace
}  // namespace veil::tee
