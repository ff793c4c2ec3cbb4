// The simulated attester and its verifier (Ed25519 through OpenSSL's EVP interface).
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

struct SimulatedAttester::Key {
  Pkey pkey;
  std::string public_key;
};

SimulatedAttester::SimulatedAttester() : key_(std::make_unique<Key>()) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  VEIL_CHECK_IO(raw != nullptr, "simulated attester: Ed25519 key generation failed");
  key_->pkey.reset(raw);
  std::size_t len = 32;
  key_->public_key.assign(32, '\0');
  VEIL_CHECK_IO(EVP_PKEY_get_raw_public_key(raw, reinterpret_cast<unsigned char*>(key_->public_key.data()), &len) == 1 &&
                    len == 32,
                "simulated attester: cannot export the Ed25519 public key");
}

SimulatedAttester::~SimulatedAttester() = default;

const std::string& SimulatedAttester::public_key() const { return key_->public_key; }

AttestationReport SimulatedAttester::attest(const ReportClaims& c) {
  AttestationReport r;
  r.kind = "simulated";
  r.simulated = true;
  r.measurement = lower(c.measurement);
  r.config_json = c.config_json;
  r.enclave_key = c.enclave_key;
  r.nonce = c.nonce;
  r.session = c.session;
  r.model_hash = c.model_hash;
  r.report_data = report_data_for(c.enclave_key, c.nonce, c.model_hash, c.session);
  r.signer_key = key_->public_key;
  const std::string body = r.body();
  MdCtx ctx(EVP_MD_CTX_new());
  std::size_t len = 64;
  r.signature.assign(64, '\0');
  VEIL_CHECK_IO(ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) == 1 &&
                    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(r.signature.data()), &len,
                                   reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1,
                "simulated attester: Ed25519 signing failed");
  r.signature.resize(len);
  return r;
}

void SimulatedVerifier::verify(const AttestationReport& report, const Expectation& expected) const {
  if (report.kind != "simulated" || !report.simulated)
    throw AttestationError(util::cat("attestation report of kind '", report.kind,
                                     "' needs its platform's verifier; this build verifies simulated reports only"));
  if (!expected.allow_simulated)
    throw AttestationError(
        "attestation report is SIMULATED (no hardware TEE) and simulated reports are refused; pass "
        "--allow-simulated with --attestation-key (the enclave's pinned simulated key) to accept one (docs/tee.md)");
  if (expected.signer_key.size() != 32)
    throw AttestationError(
        "attestation report is SIMULATED and no attestation key is pinned: pass --attestation-key HEX|FILE (what "
        "`veil enclave --attestation-key-out` wrote); the key inside a report proves nothing");
  if (report.signer_key != expected.signer_key)
    throw AttestationError(util::cat("attestation report: signed by key ", to_hex(report.signer_key).substr(0, 16),
                                     "..., not the pinned attestation key ", to_hex(expected.signer_key).substr(0, 16),
                                     "... (a forged report or another enclave)"));
  if (report.signature.size() != 64) throw AttestationError("attestation report: the signature has the wrong length");
  Pkey pub(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(expected.signer_key.data()), 32));
  if (!pub) throw AttestationError("attestation report: the pinned attestation key is not an Ed25519 public key");
  const std::string body = report.body();
  MdCtx ctx(EVP_MD_CTX_new());
  const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pub.get()) == 1 &&
                  EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(report.signature.data()),
                                   report.signature.size(), reinterpret_cast<const unsigned char*>(body.data()),
                                   body.size()) == 1;
  if (!ok) throw AttestationError("attestation report: signature does not verify under the pinned key (the report was altered)");
  if (report.report_data != report_data_for(report.enclave_key, report.nonce, report.model_hash, report.session))
    throw AttestationError("attestation report: report_data does not bind its enclave key, nonce, model hash and session");
  if (lower(report.measurement) != lower(expected.measurement))
    throw AttestationError(util::cat("attestation report: measurement mismatch: the enclave runs ", report.measurement,
                                     ", expected ", expected.measurement,
                                     " (a different binary or configuration)"));
  if (report.nonce != expected.nonce)
    throw AttestationError("attestation report: nonce mismatch (a replayed or foreign report)");
  if (report.enclave_key.size() != 32)
    throw AttestationError("attestation report: the enclave key is not a 32-byte X25519 public key");
  if (report.session.size() != 16) throw AttestationError("attestation report: the session id is not 16 bytes");
  if (!expected.session.empty() && report.session != expected.session)
    throw AttestationError(util::cat("attestation report: session mismatch: the enclave is in session ",
                                     to_hex(report.session), ", expected ", to_hex(expected.session)));
  if (!expected.model_hash.empty() && report.model_hash != expected.model_hash)
    throw AttestationError(util::cat("attestation report: model mismatch: the enclave's session holds model ",
                                     report.model_hash.empty() ? std::string("(none yet)") : to_hex(report.model_hash),
                                     ", expected ", to_hex(expected.model_hash)));
  std::fprintf(stderr,
               "\n"
               "  ******************************************************************************\n"
               "  ** %s (measurement %.16s...)\n"
               "  ** The report is signed by a key the enclave process made itself: it does NOT\n"
               "  ** prove that a TEE protects the secrets about to be sent. See docs/tee.md.\n"
               "  ******************************************************************************\n\n",
               kSimulatedWarning, report.measurement.c_str());
}

std::string read_attestation_key(const std::string& hex_or_file) {
  std::string text = hex_or_file;
  const bool is_hex = text.size() == 64 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!is_hex) {
    std::ifstream in(hex_or_file);
    VEIL_CHECK_ARG(in.good(), "--attestation-key '", hex_or_file,
                   "': neither 64 hex characters nor a readable file");
    std::getline(in, text);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  }
  VEIL_CHECK_ARG(text.size() == 64 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos,
                 "--attestation-key '", hex_or_file, "': expected a raw Ed25519 public key as 64 hex characters");
  return from_hex(text);
}

std::unique_ptr<Verifier> verifier_for(const AttestationReport& report) {
  if (report.kind == "simulated") return std::make_unique<SimulatedVerifier>();
  throw AttestationError(util::cat("no verifier for attestation kind '", report.kind, "' in this build (docs/tee.md)"));
}

}  // namespace veil::tee
