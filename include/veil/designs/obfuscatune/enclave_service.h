// The enclave party of obfuscatune as a transport::Service (`veil enclave` serves it): it attests
// itself, receives the model owner's checkpoint and the data owner's dataset sealed to its fresh
// key, and runs the obfuscatune fine-tune inside (ObfuscatuneEnclave through run_finetune) against
// untrusted workers that see only obfuscated weights and activations. Tokens, text, plaintext
// weights and the adapter never leave it unsealed.
//
// One EnclaveParty is one session: it accepts ONE model, signed by the model owner's key its
// configuration pins; the first data owner to sign a request (seal_data or generate) binds the
// session to its session key and every later finetune/generate must be signed by it; each sealed
// or signed request names a fresh report of the session, which it consumes (no replay); adapters
// leave with an HMAC tag under a key that never leaves the process and are loaded only with it.
// Operations (docs/tee.md has the full protocol):
//   "enclave.report"      blob "nonce" (16..64 bytes) → blob "report" (AttestationReport JSON)
//   "enclave.seal_model"  meta "stream" (id), "report" (hex hash of a report this enclave issued),
//   "enclave.seal_data"   ints {index, final}, blobs "header" (index 0) and "chunk" → empty reply;
//                         the final chunk unpacks the bundle: the model's files, or
//                         {"data.<ext>", "owner.pub"} (the data owner's X25519 key), plus
//                         "veil-model.sig", or "session.pub" + "request.sig" (enclave_protocol.h)
//   "enclave.finetune"    meta "config" (EnclaveFinetune JSON: the recipe settings, enclave_client.h),
//                         meta "report" (a fresh issued report), blob "signature" (data owner's)
//                         → blob "header", blobs "chunk.<i>", ints {chunks}: the bundle
//                         adapter_config.json, adapter_model.safetensors, metrics.jsonl, loss.svg,
//                         adapter.tag, summary.json sealed to the data owner's key with the
//                         request's report hash as associated data. The run is run_finetune with --design obfuscatune
//                         on the sealed model and data, against this party's workers.
//   "enclave.generate"    meta "report" (hex hash of an issued report), blob "header", blobs
//                         "chunk.<i>", ints {chunks}: a bundle sealed to the enclave's key holding
//                         request.json (EnclaveGenerate), owner.pub (the reply key), session.pub,
//                         request.sig and optionally adapter_config.json +
//                         adapter_model.safetensors + adapter.tag → the bundle
//                         {result.json: tokens, text} sealed to owner.pub, same associated data.
//                         Greedy or sampled generation with a KV cache (ObfuscatuneEnclave).
// Calls are served one at a time (each run loads its own obfuscated weights into the workers).
// Plaintext files live only in a private (0700) directory on a RAM file system (/dev/shm), removed
// after use; a real TEE keeps them in its encrypted memory (docs/tee.md).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "veil/model/config.h"
#include "veil/train/finetune.h"
#include "veil/transport/service.h"
#include "veil/transport/worker_pool.h"

namespace veil::tee {
class Attester;
}

namespace veil::designs::obfuscatune {

struct EnclaveSettings {
  train::PartyOptions parties;                  // the workers and TLS towards them; no workers: one in-process
  std::map<std::string, std::string> options;   // obfuscatune --opt key=value (measured)
  std::filesystem::path scratch;                // root of the private RAM directory; empty: /dev/shm
  // DER SubjectPublicKeyInfo of the model owner's signing key (`veil enclave --model-owner-key`):
  // only a model bundle signed by it is accepted. Required; its fingerprint is measured.
  std::string model_owner_key;
  // Largest sealed model, and largest sealed dataset or generate request, in plaintext bytes.
  std::size_t max_model_bytes = std::size_t{64} << 30, max_data_bytes = std::size_t{4} << 30;
  // Tests: builds the worker pool instead of `parties` (e.g. an in-process worker with an audit tap).
  std::function<transport::WorkerPool(const model::ModelConfig&)> open_pool;

  // What the measurement covers besides the binary: design, options, attestation kind.
  [[nodiscard]] nlohmann::json measured_config() const;
};

class EnclaveParty {
 public:
  // Validates the options (std::invalid_argument naming the key) and draws the enclave's key.
  EnclaveParty(EnclaveSettings settings, std::shared_ptr<tee::Attester> attester);
  ~EnclaveParty();  // removes the private directory
  EnclaveParty(const EnclaveParty&) = delete;
  EnclaveParty& operator=(const EnclaveParty&) = delete;

  // Installs the "enclave.*" handlers; they share this party's state (safe to outlive it).
  void install(transport::Service& service);
  // Hex SHA-256 of this binary and measured_config().
  [[nodiscard]] const std::string& measurement() const;
  // This party's session id (raw, 16 random bytes): its reports name it; a sealed or signed
  // request made for another session is refused.
  [[nodiscard]] const std::string& session() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace veil::designs::obfuscatune
