// Signatures that authenticate a party to the enclave: the model owner signs its sealed model with
// a key whose public half the enclave's configuration pins (so the measurement covers it); the
// data owner signs its session's requests with its session key. Any key OpenSSL's EVP_DigestSign
// handles works (Ed25519/Ed448 sign the message itself, EC and RSA keys sign its SHA-256), so a
// party's TLS key made by `openssl` serves. Public keys travel and are compared as DER
// SubjectPublicKeyInfo.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace veil::tee {

// A key file that cannot be read or parsed, or a malformed public key. what() names the problem.
class KeyError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class SigningKey {
 public:
  // A fresh Ed25519 key (OpenSSL's CSPRNG).
  [[nodiscard]] static SigningKey generate();
  // A private key in PEM (PKCS#8 "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"); unencrypted.
  // Throws KeyError naming the file.
  [[nodiscard]] static SigningKey load_pem(const std::filesystem::path& file);
  // `file` when it exists; otherwise a fresh key written there (PKCS#8 PEM, mode 0600, atomically).
  [[nodiscard]] static SigningKey load_or_create(const std::filesystem::path& file);
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;

  // Writes the private key as PKCS#8 PEM: created with mode 0600 under a temporary name, renamed.
  void save_pem(const std::filesystem::path& file) const;
  [[nodiscard]] const std::string& public_key() const { return public_; }  // DER SubjectPublicKeyInfo
  // Throws std::runtime_error when OpenSSL fails.
  [[nodiscard]] std::string sign(const std::string& message) const;

 private:
  SigningKey();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string public_;
};

class VerifyKey {
 public:
  // From DER SubjectPublicKeyInfo. Throws KeyError.
  [[nodiscard]] static VerifyKey from_der(const std::string& spki);
  // A PEM public key, certificate, or private key (its public half). Throws KeyError naming the file.
  [[nodiscard]] static VerifyKey load_pem(const std::filesystem::path& file);
  ~VerifyKey();
  VerifyKey(VerifyKey&&) noexcept;
  VerifyKey& operator=(VerifyKey&&) noexcept;

  [[nodiscard]] const std::string& der() const { return der_; }
  // Hex SHA-256 of der(): how messages name the key.
  [[nodiscard]] std::string fingerprint() const;
  // True when `signature` is this key's over `message`; false for any failure.
  [[nodiscard]] bool verify(const std::string& message, const std::string& signature) const;

 private:
  VerifyKey();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string der_;
};

}  // namespace veil::tee
