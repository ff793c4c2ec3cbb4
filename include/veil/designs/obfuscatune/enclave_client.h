// The model owner's and data owner's side of `veil enclave` (enclave_service.h): attest the
// enclave against an expected measurement with a fresh nonce, then seal a checkpoint or a dataset
// to its key, and have it fine-tune; the adapter comes back sealed to the data owner's own key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "veil/tee/attestation.h"
#include "veil/tee/sealing.h"
#include "veil/transport/endpoint.h"

namespace veil::designs::obfuscatune {

// Asks for a report with a fresh 32-byte nonce and verifies it (tee::verifier_for). Throws
// tee::AttestationError naming why a report is refused, TransportError when the enclave fails.
[[nodiscard]] tee::AttestationReport attest_enclave(transport::Endpoint& enclave, const std::string& expected_measurement,
                                                    bool allow_simulated = true);

// Seals the model (an HF directory's files, or a llama2.c file) to the report's key and streams it.
// Returns the plaintext bytes sent.
std::size_t seal_model(transport::Endpoint& enclave, const tee::AttestationReport& report,
                       const std::filesystem::path& model, std::size_t chunk_bytes = tee::kDefaultSealChunk);

// Seals a dataset (.jsonl or text) with the data owner's public key (the adapter comes back
// sealed to it).
std::size_t seal_data(transport::Endpoint& enclave, const tee::AttestationReport& report,
                      const std::filesystem::path& data, const tee::SealingKey& owner,
                      std::size_t chunk_bytes = tee::kDefaultSealChunk);

struct EnclaveFinetune {
  std::int64_t steps = 10, batch_size = 8, grad_accum = 1, seq_len = 256, max_examples = 0, rank = 8;
  double lr = 2e-4, alpha = 16;
  std::uint64_t seed = 0;
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static EnclaveFinetune from_json(const nlohmann::json& j);  // throws std::invalid_argument
};

// Asks the enclave to fine-tune on the data sealed under `report`, opens the sealed adapter with
// `owner` and writes adapter_config.json, adapter_model.safetensors and summary.json into `out`
// (atomically). Returns the summary.
nlohmann::json finetune_in_enclave(transport::Endpoint& enclave, const tee::AttestationReport& report,
                                   const tee::SealingKey& owner, const EnclaveFinetune& request,
                                   const std::filesystem::path& out);

}  // namespace veil::designs::obfuscatune
