// Remote attestation of the `veil enclave` process: a report that binds what runs (a measurement)
// to a fresh public key held only by that process and to the verifier's nonce, so that a model or
// data owner who checks the report can seal secrets to that key and nobody else.
//
// The interface is pluggable: an Attester produces reports, a Verifier checks them. The built-in
// pair is *simulated* (SimulatedAttester signs with an Ed25519 key it just generated, so the
// signature proves nothing about hardware); every simulated report carries "simulated": true, the
// verifier refuses it unless the caller allows simulated reports AND pins the signer's public key
// (obtained out of band: `veil enclave --attestation-key-out`), and warns loudly when it accepts one. docs/tee.md says how Gramine-SGX, AMD SEV-SNP or
// a confidential GPU plug in. Randomness comes from OpenSSL only.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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
//    "session": hex, "model_hash": hex SHA-256 or "", "report_data": hex SHA-256,
//    "config": {...}, "signer_key": hex Ed25519 public key, "signature": hex}
// The signature covers the canonical JSON of every other field (body()). report_data =
// report_data_for(enclave_key, nonce, model_hash, session): what a hardware report's 64-byte
// REPORT_DATA would carry.
struct AttestationReport {
  std::string kind = "simulated";  // which Attester made it ("simulated", "sgx-dcap", "sev-snp", ...)
  bool simulated = true;
  std::string measurement;    // hex, 64 characters
  std::string enclave_key;    // raw X25519 public key (32 bytes)
  std::string nonce;          // raw bytes chosen by the verifier
  std::string config_json;    // the canonical configuration the measurement covers
  std::string session;        // raw id of the enclave's session (16 bytes)
  std::string model_hash;     // raw SHA-256 of the model sealed into the session; empty: none yet
  std::string report_data;    // raw 32 bytes: report_data_for(enclave_key, nonce, model_hash, session)
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

// The enclave's measurement: what code runs, and with which configuration.
//   hex SHA-256("veil-enclave-measurement-v2" || 0 || SHA-256(binary)
//               || for each shared object, sorted by file name: be32 |name| || name || SHA-256(bytes)
//               || canonical config)
// (the config is nlohmann's dump of the JSON, whose object keys are sorted). Shared objects are
// named by their file name only (not their directory), so the same libraries installed elsewhere
// measure the same. Throws std::runtime_error when a file cannot be read.
[[nodiscard]] std::string measure(const std::filesystem::path& binary,
                                  const std::vector<std::filesystem::path>& shared_objects,
                                  const nlohmann::json& config);
// measure() of the binary alone (no shared objects).
[[nodiscard]] std::string measure(const std::filesystem::path& binary, const nlohmann::json& config);
// The shared objects the dynamic linker loaded before main() (dl_iterate_phdr at static
// initialisation: the executable's DT_NEEDED closure, not objects dlopen'ed later), each by the path
// it was loaded from. Empty for a static executable.
[[nodiscard]] const std::vector<std::filesystem::path>& startup_shared_objects();
// measure() of the running executable (/proc/self/exe) and startup_shared_objects(). The files are
// hashed once per process (about 0.5 s for veil's 335 objects, 540 MB); the config each call.
[[nodiscard]] std::string measure_self(const nlohmann::json& config);

// SHA-256("veil-report-data-v1" || 0 || enclave_key || nonce || be32 |model_hash| || model_hash ||
// session): binds the key-exchange key, the verifier's nonce, the session's model and the session.
[[nodiscard]] std::string report_data_for(const std::string& enclave_key, const std::string& nonce,
                                          const std::string& model_hash, const std::string& session);

// What a report states (raw bytes unless said otherwise).
struct ReportClaims {
  std::string measurement;  // hex
  std::string config_json;
  std::string enclave_key, nonce, session, model_hash;
};

class Attester {
 public:
  virtual ~Attester() = default;
  // A report binding the claims (report_data set from them).
  [[nodiscard]] virtual AttestationReport attest(const ReportClaims& claims) = 0;
};

// Signs reports with an Ed25519 key drawn at construction (OpenSSL). Proves nothing about the
// platform: anyone can run one. Reports say "simulated": true.
class SimulatedAttester final : public Attester {
 public:
  SimulatedAttester();
  ~SimulatedAttester() override;
  SimulatedAttester(const SimulatedAttester&) = delete;
  SimulatedAttester& operator=(const SimulatedAttester&) = delete;
  [[nodiscard]] AttestationReport attest(const ReportClaims& claims) override;
  // The raw Ed25519 public key the reports are signed with: verifiers pin it out of band.
  [[nodiscard]] const std::string& public_key() const;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
};

// What the verifier expects of a report.
struct Expectation {
  std::string measurement;  // hex; compared case-insensitively
  std::string nonce;        // raw, as sent with the request
  // Simulated reports are refused unless this is set (`--allow-simulated`)...
  bool allow_simulated = false;
  // ...and then verified under this pinned raw Ed25519 key (`--attestation-key`), never the key
  // the report carries; a simulated report without a pinned key is refused.
  std::string signer_key;
  std::string model_hash;  // raw; empty: not checked (the report may name any model, or none)
  std::string session;     // raw; empty: not checked
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // Returns normally when the report is acceptable; throws AttestationError naming the reason.
  virtual void verify(const AttestationReport& report, const Expectation& expected) const = 0;
};

// Refuses simulated reports unless allowed; checks the Ed25519 signature under the PINNED signer
// key, report_data, the measurement, the nonce, and the model hash and session when expected;
// prints kSimulatedWarning on stderr when it accepts (a simulated report is not evidence of a
// TEE). Refuses non-simulated kinds (they need their platform's verifier).
class SimulatedVerifier final : public Verifier {
 public:
  void verify(const AttestationReport& report, const Expectation& expected) const override;
};

// The banner printed (stderr) each time a simulated report is accepted (docs/tee.md quotes it).
inline constexpr const char* kSimulatedWarning = "WARNING: SIMULATED ATTESTATION accepted";

// The raw 32-byte Ed25519 key given as 64 hex characters or as a file holding them (what `veil
// enclave --attestation-key-out` writes). Throws std::invalid_argument naming the problem.
[[nodiscard]] std::string read_attestation_key(const std::string& hex_or_file);

// The verifier for report.kind (only "simulated" is built in). Throws AttestationError otherwise.
[[nodiscard]] std::unique_ptr<Verifier> verifier_for(const AttestationReport& report);

// Fresh random bytes from OpenSSL's CSPRNG. Throws std::runtime_error when it fails.
[[nodiscard]] std::string random_bytes(std::size_t n);
// Lower-case hex, and back (throws std::invalid_argument for non-hex input).
[[nodiscard]] std::string to_hex(const std::string& bytes);
[[nodiscard]] std::string from_hex(const std::string& hex);
[[nodiscard]] std::string sha256(const std::string& bytes);  // raw 32 bytes

}  // namespace veil::tee
