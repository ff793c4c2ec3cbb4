// X.509 certificates for the hardware attestation verifiers (sev_snp.h, tdx.h), on OpenSSL.
//
// A Certificate is an immutable, shareable handle. Loading never trusts anything: it only parses.
// Trust comes from verify_issued_by (one link of a chain, at an explicit time) and from the pinned
// root keys the verifiers compare spki_sha256() against. Every failure throws AttestationError
// (attestation.h) whose message names the certificate and the check.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace veil::tee {

class Certificate {
 public:
  // One DER certificate; trailing bytes are refused. Throws AttestationError naming `what`.
  [[nodiscard]] static Certificate from_der(std::string_view der, std::string_view what = "certificate");
  // Every certificate in `bytes`: PEM (one or more blocks) or a single DER certificate.
  // Throws AttestationError when nothing parses.
  [[nodiscard]] static std::vector<Certificate> parse_all(std::string_view bytes, std::string_view what);

  [[nodiscard]] std::string subject() const;       // one line, RFC 2253
  [[nodiscard]] std::string subject_cn() const;    // "" when absent
  [[nodiscard]] std::string issuer_cn() const;     // "" when absent
  [[nodiscard]] bool self_issued() const;          // subject name == issuer name
  [[nodiscard]] bool is_ca() const;                // basicConstraints CA:TRUE (X509_check_ca)
  [[nodiscard]] std::string spki_sha256() const;   // raw SHA-256 of the SubjectPublicKeyInfo DER
  [[nodiscard]] int key_type() const;              // EVP_PKEY_RSA, EVP_PKEY_EC, ... (OpenSSL ids)
  [[nodiscard]] std::string curve() const;         // "secp384r1", "prime256v1"; "" for non-EC keys
  [[nodiscard]] std::time_t not_before() const;
  [[nodiscard]] std::time_t not_after() const;
  // The raw contents of the extension's OCTET STRING, or nullopt when the certificate lacks it.
  [[nodiscard]] std::optional<std::string> extension(const char* oid) const;
  // The signature algorithm: "rsassa-pss/sha384/salt48", "ecdsa/sha256", ... (for messages and
  // for the verifiers' algorithm checks).
  [[nodiscard]] std::string signature_algorithm() const;

  // Checks that `issuer` signed this certificate (names chain, signature verifies under the
  // issuer's key, the issuer is a CA) and that this certificate is valid at `at`. `what` names
  // this certificate in the message ("VCEK", "ASK", ...).
  void verify_issued_by(const Certificate& issuer, std::string_view what, std::string_view issuer_what,
                        std::time_t at) const;
  // Throws unless not_before <= at <= not_after.
  void check_valid_at(std::time_t at, std::string_view what) const;

  [[nodiscard]] X509* get() const { return x_.get(); }
  [[nodiscard]] EVP_PKEY* public_key() const;  // owned by the certificate

 private:
  explicit Certificate(std::shared_ptr<X509> x) : x_(std::move(x)) {}
  std::shared_ptr<X509> x_;
};

// Verifies a raw ECDSA signature (r and s as big-endian integers of the curve's size, r || s)
// over `data` with `digest` ("SHA256", "SHA384") under `key`. False when it does not verify.
[[nodiscard]] bool verify_ecdsa_raw(EVP_PKEY* key, std::string_view digest, std::string_view data,
                                    std::string_view r_be, std::string_view s_be);

// An uncompressed P-256 public key (x || y, 64 bytes) as an EVP_PKEY. Throws AttestationError when
// the point is not on the curve.
[[nodiscard]] std::shared_ptr<EVP_PKEY> p256_public_key(std::string_view xy);

}  // namespace veil::tee
