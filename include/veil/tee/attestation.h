// Remote attestation of the `veil enclave` process: a report that binds what runs (a measurement)
// to a fresh public key held only by that process and to the verifier's nonce, so that a model or
// data owner who checks the report can seal secrets to that key and nobody else.
//
// The interface is pluggable: an Attester produces reports, a Verifier checks them. The built-in
// pair is *simulated* (SimulatedAttester signs with an Ed25519 key it just generated, so the
// signature proves nothing about hardware); every simulated report carries "simulated": true and
// the verifier warns loudly when it accepts one. docs/tee.md says how Gramine-SGX, AMD SEV-SNP or
// a confidential GPU plug in. Randomness comes from OpenSSL only.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace veil::tee {

// A report that fails verification (wrong measurement, nonce, signature, format). what() names
// the reason.
class AttestationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The report an enclave publishes, as JSON (docs/tee.md):
//   {"format": "veil-attestation-v1", "kind": "simulated", "simulated": true,
//    "measurement": hex SHA-256, "enclave_key": hex X25519 public key, "nonce": hex,
//    "config": {...}, "signer_key": hex Ed25519 public key, "signature": hex}
// The signature covers the canonical JSON of every other field (body()).
struct AttestationReport {
  std::string kind = "simulated";  // which Attester made it ("simulated", "sgx-dcap", "sev-snp", ...)
  bool simulated = true;
  std::string measurement;    // hex, 64 characters
  std::string enclave_key;    // raw X25519 public key (32 bytes)
  std::string nonce;          // raw bytes chosen by the verifier
  std::string config_json;    // the canonical configuration the measurement covers
  std::string signer_key;     // raw Ed25519 public key (simulated) or the platform's evidence
  std::string signature;      // raw signature over body()

  // The bytes the signature covers: canonical JSON of everything except signature.
  [[nodiscard]] std::string body() const;
  [[nodiscard]] std::string to_json() const;
  // Throws AttestationError naming a missing or malformed field.
  [[nodiscard]] static AttestationReport from_json(const std::string& text);
  // SHA-256 of to_json(): sealed payloads use it as associated data, binding them to this report.
  [[nodiscard]] std::string hash() const;
};

// SHA-256 over a binary's bytes and a canonical configuration (nlohmann's dump of the JSON, whose
// object keys are sorted): hex of SHA-256("veil-enclave-measurement-v1" || 0 || SHA-256(binary)
// || canonical config). Throws std::runtime_error when the binary cannot be read.
[[nodiscard]] std::string measure(const std::filesystem::path& binary, const nlohmann::json& config);
// measure() of the running executable (/proc/self/exe).
[[nodiscard]] std::string measure_self(const nlohmann::json& config);

class Attester {
 public:
  virtual ~Attester() = default;
  // A report binding `measurement` (hex), `enclave_key` (raw public key) and `nonce`.
  [[nodiscard]] virtual AttestationReport attest(const std::string& measurement, const std::string& config_json,
                                                 const std::string& enclave_key, const std::string& nonce) = 0;
};

// Signs reports with an Ed25519 key drawn at construction (OpenSSL). Proves nothing about the
// platform: anyone can run one. Reports say "simulated": true.
class SimulatedAttester final : public Attester {
 public:
  SimulatedAttester();
  ~SimulatedAttester() override;
  SimulatedAttester(const SimulatedAttester&) = delete;
  SimulatedAttester& operator=(const SimulatedAttester&) = delete;
  [[nodiscard]] AttestationReport attest(const std::string& measurement, const std::string& config_json,
                                         const std::string& enclave_key, const std::string& nonce) override;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
};

// What the verifier expects of a report.
struct Expectation {
  std::string measurement;  // hex; compared case-insensitively
  std::string nonce;        // raw, as sent with the request
  bool allow_simulated = true;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // Returns normally when the report is acceptable; throws AttestationError naming the reason.
  virtual void verify(const AttestationReport& report, const Expectation& expected) const = 0;
};

// Checks format, the Ed25519 signature under the report's own signer key, the measurement and the
// nonce; prints a loud warning on stderr when it accepts (a simulated report is not evidence of a
// TEE). Refuses non-simulated kinds (they need their platform's verifier).
class SimulatedVerifier final : public Verifier {
 public:
  void verify(const AttestationReport& report, const Expectation& expected) const override;
};

// The verifier for report.kind (only "simulated" is built in). Throws AttestationError otherwise.
[[nodiscard]] std::unique_ptr<Verifier> verifier_for(const AttestationReport& report);

// Fresh random bytes from OpenSSL's CSPRNG. Throws std::runtime_error when it fails.
[[nodiscard]] std::string random_bytes(std::size_t n);
// Lower-case hex, and back (throws std::invalid_argument for non-hex input).
[[nodiscard]] std::string to_hex(const std::string& bytes);
[[nodiscard]] std::string from_hex(const std::string& hex);
[[nodiscard]] std::string sha256(const std::string& bytes);  // raw 32 bytes

}  // namespace veil::tee
