// What the enclave's session protocol signs and MACs (docs/tee.md, "Sessions"), shared by the
// enclave (enclave_service.cpp) and the owners (enclave_client.cpp).
//
// - The model owner signs signed_digest(kSealModelLabel, session, report hash, {"model": model
//   hash}) with the key the enclave's configuration pins; the signature travels inside the sealed
//   bundle as kModelSignatureFile.
// - The data owner signs every request with its session key: the sealed data bundle, each
//   generate bundle (signed_digest over the bundle's files but the signature) and each finetune
//   request (over {"config.json": config}); its public key travels as kSessionKeyFile.
// - Every signed or sealed request names a fresh report of the session (its hash), which the
//   enclave consumes: a replay, in this session or another, names a report it no longer holds.
// - Adapters the enclave returns carry kAdapterTagFile = adapter_tag(...) under a key that never
//   leaves the enclave; an adapter without a valid tag is never loaded.
#pragma once

#include <string>

#include "designs/obfuscatune/bundle.h"

namespace veil::designs::obfuscatune {

inline constexpr const char* kSealModelLabel = "veil-seal-model-v1";
inline constexpr const char* kSealDataLabel = "veil-seal-data-v1";
inline constexpr const char* kFinetuneLabel = "veil-finetune-v1";
inline constexpr const char* kGenerateLabel = "veil-generate-v1";

inline constexpr const char* kModelSignatureFile = "veil-model.sig";
inline constexpr const char* kRequestSignatureFile = "request.sig";
inline constexpr const char* kSessionKeyFile = "session.pub";
inline constexpr const char* kAdapterTagFile = "adapter.tag";

// SHA-256(label || 0 || be32 |session| || session || be32 |report_hash| || report_hash || for
// each file of `files` but `skip`, in name order: be32 |name| || name || SHA-256(bytes)).
[[nodiscard]] std::string signed_digest(const std::string& label, const std::string& session,
                                        const std::string& report_hash, const Bundle& files,
                                        const std::string& skip = "");

// SHA-256 of the packed bundle of the model's files (what reports name as model_hash).
[[nodiscard]] std::string model_hash(const Bundle& model_files);

// HMAC-SHA256(key, "veil-adapter-v1" || session || model hash || SHA-256(adapter_config.json) ||
// SHA-256(adapter_model.safetensors)). Throws std::runtime_error when OpenSSL fails.
[[nodiscard]] std::string adapter_tag(const std::string& key, const std::string& session, const std::string& model_hash,
                                      const std::string& adapter_config, const std::string& adapter_weights);

// Constant-time equality of two byte strings.
[[nodiscard]] bool equal_bytes(const std::string& a, const std::string& b);

}  // namespace veil::designs::obfuscatune
