// Digests and tags of the enclave's session protocol (enclave_protocol.h).
#include "designs/obfuscatune/enclave_protocol.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

#include "veil/tee/attestation.h"

namespace veil::designs::obfuscatune {
namespace {

void put_sized(std::string& out, const std::string& bytes) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((bytes.size() >> (8 * i)) & 0xff));
  out += bytes;
}

}  // namespace

std::string signed_digest(const std::string& label, const std::string& session, const std::string& report_hash,
                          const Bundle& files, const std::string& skip) {
  std::string input = label;
  input.push_back('\0');
  put_sized(input, session);
  put_sized(input, report_hash);
  for (const auto& [name, bytes] : files) {
    if (name == skip) continue;
    put_sized(input, name);
    input += tee::sha256(bytes);
  }
  return tee::sha256(input);
}

std::string model_hash(const Bundle& model_files) { return tee::sha256(pack_bundle(model_files)); }

std::string adapter_tag(const std::string& key, const std::string& session, const std::string& model_hash,
                        const std::string& adapter_config, const std::string& adapter_weights) {
  std::string input = "veil-adapter-v1";
  input.push_back('\0');
  input += session + model_hash + tee::sha256(adapter_config) + tee::sha256(adapter_weights);
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, sizeof out, &len) == nullptr)
    throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool equal_bytes(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace veil::designs::obfuscatune
