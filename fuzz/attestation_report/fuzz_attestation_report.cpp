// libFuzzer target for what the owners parse from the enclave (the attestation report JSON) and
// what the enclave parses from owners (a DER SubjectPublicKeyInfo session key).
//
// Properties checked on every input:
//   - AttestationReport::from_json either returns a report or throws AttestationError;
//   - an accepted report serializes and parses back to the same JSON (lossless, deterministic);
//   - the simulated verifier, with a pinned key no input can hold the private half of, never
//     accepts it (it throws AttestationError) — with and without --allow-simulated;
//   - VerifyKey::from_der either returns a key or throws KeyError; verify() of junk is false.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "veil/tee/attestation.h"
#include "veil/tee/signing.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "attestation_report: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto report = veil::tee::AttestationReport::from_json(bytes);
    const auto again = veil::tee::AttestationReport::from_json(report.to_json());
    if (again.to_json() != report.to_json()) fail("report does not round-trip");
    for (bool allow : {false, true}) {
      veil::tee::Expectation e;
      e.measurement = report.measurement;
      e.nonce = report.nonce;
      e.allow_simulated = allow;
      e.signer_key = std::string(32, '\x01');  // nobody holds its private key
      try {
        veil::tee::verifier_for(report)->verify(report, e);
        fail("a report verified under a key nobody holds");
      } catch (const veil::tee::AttestationError&) {
      }
    }
  } catch (const veil::tee::AttestationError&) {
  }
  try {
    const auto key = veil::tee::VerifyKey::from_der(bytes);
    if (key.verify("message", bytes)) fail("junk verified as a signature");
  } catch (const veil::tee::KeyError&) {
  }
  return 0;
}
