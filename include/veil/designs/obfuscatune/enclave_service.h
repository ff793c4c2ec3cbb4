// The enclave party of obfuscatune as a transport::Service (`veil enclave` serves it): it attests
// itself, receives the model owner's checkpoint and the data owner's dataset sealed to its fresh
// key, and runs the obfuscatune fine-tune inside (ObfuscatuneEnclave through run_finetune) against
// untrusted workers that see only obfuscated weights and activations. Tokens, text, plaintext
// weights and the adapter never leave it unsealed.
//
// Operations (docs/tee.md has the full protocol):
//   "enclave.report"      blob "nonce" (16..64 bytes) → blob "report" (AttestationReport JSON)
//   "enclave.seal_model"  meta "stream" (id), "report" (hex hash of a report this enclave issued),
//   "enclave.seal_data"   ints {index, final}, blobs "header" (index 0) and "chunk" → empty reply;
//                         the final chunk unpacks the bundle: the model's files, or
//                         {"data.<ext>", "owner.pub"} (the data owner's X25519 key)
//   "enclave.finetune"    meta "config" (EnclaveFinetune JSON: the recipe settings, enclave_client.h)
//                         → blob "header", blobs "chunk.<i>", ints {chunks}: the bundle
//                         adapter_config.json, adapter_model.safetensors, metrics.jsonl, loss.svg,
//                         summary.json sealed to the data owner's key with the data's report hash
//                         as associated data. The run is run_finetune with --design obfuscatune
//                         on the sealed model and data, against this party's workers.
//   "enclave.generate"    meta "report" (hex hash of an issued report), blob "header", blobs
//                         "chunk.<i>", ints {chunks}: a bundle sealed to the enclave's key holding
//                         request.json (EnclaveGenerate), owner.pub (the reply key) and optionally
//                         adapter_config.json + adapter_model.safetensors → the bundle
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

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace veil::designs::obfuscatune
