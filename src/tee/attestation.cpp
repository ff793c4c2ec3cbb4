// The simulated attester and its verifier (Ed25519 through OpenSSL's EVP interface).
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

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

AttestationReport SimulatedAttester::attest(const std::string& measurement, const std::string& config_json,
                                            const std::string& enclave_key, const std::string& nonce) {
  AttestationReport r;
  r.kind = "simulated";
  r.simulated = true;
  r.measurement = lower(measurement);
  r.config_json = config_json;
  r.enclave_key = enclave_key;
  r.nonce = nonce;
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
    throw AttestationError("attestation report is SIMULATED and simulated reports are not allowed here");
  if (report.signer_key.size() != 32 || report.signature.size() != 64)
    throw AttestationError("attestation report: signer key or signature has the wrong length");
  Pkey pub(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(report.signer_key.data()), 32));
  if (!pub) throw AttestationError("attestation report: the signer key is not an Ed25519 public key");
  const std::string body = report.body();
  MdCtx ctx(EVP_MD_CTX_new());
  const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pub.get()) == 1 &&
                  EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(report.signature.data()),
                                   report.signature.size(), reinterpret_cast<const unsigned char*>(body.data()),
                                   body.size()) == 1;
  if (!ok) throw AttestationError("attestation report: signature does not verify (the report was altered)");
  if (lower(report.measurement) != lower(expected.measurement))
    throw AttestationError(util::cat("attestation report: measurement mismatch: the enclave runs ", report.measurement,
                                     ", expected ", expected.measurement,
                                     " (a different binary or configuration)"));
  if (report.nonce != expected.nonce)
    throw AttestationError("attestation report: nonce mismatch (a replayed or foreign report)");
  if (report.enclave_key.size() != 32)
    throw AttestationError("attestation report: the enclave key is not a 32-byte X25519 public key");
  std::fprintf(stderr,
               "\n"
               "  ******************************************************************************\n"
               "  ** WARNING: SIMULATED ATTESTATION accepted (measurement %.16s...)\n"
               "  ** The report is signed by a key the enclave process made itself: it does NOT\n"
               "  ** prove that a TEE protects the secrets about to be sent. See docs/tee.md.\n"
               "  ******************************************************************************\n\n",
               report.measurement.c_str());
}

std::unique_ptr<Verifier> verifier_for(const AttestationReport& report) {
  if (report.kind == "simulated") return std::make_unique<SimulatedVerifier>();
  throw AttestationError(util::cat("no verifier for attestation kind '", report.kind, "' in this build (docs/tee.md)"));
}

}  // namespace veil::tee
