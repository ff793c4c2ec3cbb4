// The model owner's and data owner's side of `veil enclave` (enclave_service.h): attest the
// enclave against an expected measurement with a fresh nonce, then seal a checkpoint or a dataset
// to its key, and have it fine-tune or generate; results come back sealed to the data owner's own
// key. The data owner never holds the model: its process sends text and receives an adapter or
// text.
//
// CLI: `veil provider seal` (model owner), `veil finetune --design obfuscatune --enclave HOST:PORT
// --opt measurement=HEX --data ...` and `veil generate --design obfuscatune --enclave ...` (data
// owner).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/model/generate.h"
#include "veil/tee/attestation.h"
#include "veil/tee/sealing.h"
#include "veil/tee/signing.h"
#include "veil/train/finetune.h"
#include "veil/transport/endpoint.h"

namespace veil::designs::obfuscatune {

// How a party checks the enclave's report. Simulated reports are refused unless allow_simulated,
// and then only under the pinned attestation key (tee::Expectation).
struct AttestationPolicy {
  std::string measurement;      // hex, 64 characters
  bool allow_simulated = false;
  std::string attestation_key;  // raw Ed25519 key of the simulated signer (`veil enclave --attestation-key-out`)
  std::string model_hash;       // raw; empty: any model (the report names it)
  std::string session;          // raw; empty: any session
};

// Asks for a report with a fresh 32-byte nonce and verifies it (tee::verifier_for). Throws
// tee::AttestationError naming why a report is refused, TransportError when the enclave fails.
[[nodiscard]] tee::AttestationReport attest_enclave(transport::Endpoint& enclave, const AttestationPolicy& policy);

// Seals the model (an HF directory's files, or a llama2.c file) to the report's key, signed with
// the model owner's key (the one `veil enclave --model-owner-key` pins), and streams it. The
// enclave refuses it when the session already holds a model or the signature is not the pinned
// key's. Returns the plaintext bytes sent and the model hash the session's reports will name.
struct SealedModel {
  std::size_t bytes = 0;
  std::string model_hash;  // raw SHA-256
};
SealedModel seal_model(transport::Endpoint& enclave, const tee::AttestationReport& report,
                       const std::filesystem::path& model, const tee::SigningKey& owner_key,
                       std::size_t chunk_bytes = tee::kDefaultSealChunk);

// Seals a dataset (.jsonl or text) with the data owner's reply key `owner` (the adapter comes back
// sealed to it) and its session key's public half, signed with the session key: the first data
// owner to seal binds the session to its key; every later finetune/generate must be signed by it.
std::size_t seal_data(transport::Endpoint& enclave, const tee::AttestationReport& report,
                      const std::filesystem::path& data, const tee::SealingKey& owner,
                      const tee::SigningKey& session_key, std::size_t chunk_bytes = tee::kDefaultSealChunk);

// The largest count the enclave accepts in each request field (a peer's number never sizes an
// allocation or a loop unchecked).
struct EnclaveBounds {
  std::int64_t steps = 1'000'000, epochs = 1000, batch_size = 1024, grad_accum = 1024, seq_len = 65536;
  std::int64_t batch_tokens = std::int64_t{1} << 20, examples = 100'000'000, rank = 4096, new_tokens = 8192;
  std::size_t prompt_bytes = std::size_t{1} << 20;
};
inline constexpr EnclaveBounds kEnclaveBounds{};

// The recipe settings the data owner chooses for a fine-tune inside the enclave (the rest of
// train::FinetuneConfig — model, tokenizer, design, workers — is the enclave's). Defaults are
// FinetuneConfig's.
struct EnclaveFinetune {
  std::int64_t steps = 0;  // max_steps; 0: epochs decide
  std::int64_t epochs = 1, batch_size = 8, grad_accum = 1, seq_len = 256, max_examples = 0, eval_every = 0;
  std::int64_t rank = 8, warmup = 0;
  double lr = 2e-4, alpha = 16, dropout = 0, weight_decay = 0, max_grad_norm = 1.0, val_fraction = 0.05;
  std::vector<std::string> targets = {"all-linear"};
  std::string layout;  // "pack" | "pad" | empty: by data kind
  std::uint64_t seed = 0;

  // The recipe fields of `cfg`.
  [[nodiscard]] static EnclaveFinetune from_config(const train::FinetuneConfig& cfg);
  // Writes these fields into `cfg` (the enclave's run).
  void apply_to(train::FinetuneConfig& cfg) const;
  [[nodiscard]] nlohmann::json to_json() const;
  // Throws std::invalid_argument naming a bad or unknown field.
  [[nodiscard]] static EnclaveFinetune from_json(const nlohmann::json& j);
};

// Asks the enclave to fine-tune on the data its session holds, the request signed with the
// session key and bound to `report` (a fresh report of the session: each is good for one
// request); opens the sealed reply with `owner` and writes adapter_config.json,
// adapter_model.safetensors, adapter.tag (the enclave's MAC: only adapters with it are loaded
// again), metrics.jsonl, loss.svg and summary.json into `out` (each atomically). Returns the summary.
nlohmann::json finetune_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                   const tee::SealingKey& owner, const tee::SigningKey& session_key,
                                   const EnclaveFinetune& request, const std::filesystem::path& out);

// A generation request: the prompt as text (the enclave tokenizes it; empty: BOS), the sampling
// settings, and whether the model's EOS ends generation (besides gen.stop_tokens).
struct EnclaveGenerate {
  std::string prompt;
  model::GenerationConfig gen;
  bool eos_stop = true;
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static EnclaveGenerate from_json(const nlohmann::json& j);  // throws std::invalid_argument
};
struct EnclaveGeneration {
  std::vector<std::int64_t> tokens;  // the new tokens
  std::string text;                  // their text
};

// Generates inside the enclave with the model sealed to it (and the PEFT adapter in `adapter`,
// when not empty, sealed with the request: it must carry the adapter.tag the enclave wrote in
// this session). The prompt, the adapter and the reply travel sealed: the request to the report's
// key and signed with the session key (binding the session when no data owner has yet), the reply
// to a fresh key of this call. `report` is consumed: use a fresh one per call.
[[nodiscard]] EnclaveGeneration generate_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                                    const tee::SigningKey& session_key, const EnclaveGenerate& request,
                                                    const std::filesystem::path& adapter = {});

// An enclave reached and attested from the CLI's options: the address and TLS settings in
// `parties` (enclave, tls_*, insecure, tls_server_name) and, in `design_options`:
//   measurement=HEX      required: 64 hex characters, `veil enclave --print-measurement`
//   allow-simulated=1    accept a simulated report (with a loud warning); refused otherwise
//   attestation-key=HEX|FILE  the simulated signer's pinned key (`veil enclave --attestation-key-out`)
//   model-hash=HEX       the model the session must hold (`veil provider seal` prints it)
//   session-key=FILE     the data owner's session key (PEM; created with mode 0600 when missing);
//                        absent: a key of this process only
// plus any obfuscatune option the caller insists on (matrix=..., variant=...): each must equal
// what the enclave's measured configuration says, or the call is refused. A report whose session
// holds no model yet is refused (nothing is sealed to an empty session).
struct AttestedEnclave {
  std::shared_ptr<transport::Endpoint> endpoint;
  tee::AttestationReport report;
  AttestationPolicy policy;                       // session and model hash pinned to the first report's
  std::shared_ptr<tee::SigningKey> session_key;
  // A fresh report of the same session and model (each signed request consumes one).
  [[nodiscard]] tee::AttestationReport attest_again() const;
};
[[nodiscard]] AttestedEnclave connect_attested(const train::PartyOptions& parties,
                                               const std::map<std::string, std::string>& design_options);

// `veil finetune --design obfuscatune --enclave HOST:PORT`: the data owner's whole run. Refuses
// (std::invalid_argument naming the flag) settings that only a local run uses (--model, --tokenizer,
// --workers, --audit-dir, --val-data, --resume, --save-every); attests the enclave, seals cfg.data
// to it, has it fine-tune with cfg's recipe settings and writes what comes back into cfg.out.
// The result's figures come from the enclave's summary.
[[nodiscard]] train::FinetuneResult finetune_through_enclave(const train::FinetuneConfig& cfg);

}  // namespace veil::designs::obfuscatune
