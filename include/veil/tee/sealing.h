// Sealing secrets to an attested enclave: an ephemeral X25519 key agreement with the enclave's
// public key, HKDF-SHA256, and AES-256-GCM over a stream of chunks, so that multi-hundred-MB
// checkpoints can be sent piecewise.
//
// Stream: a header (magic "VEILSEAL", version 1, the sender's ephemeral public key, 32 bytes of
// salt) then chunks, each ciphertext || 16-byte tag. Chunk i uses the 96-bit nonce 0^4 || be64(i)
// (each stream has its own key) and associated data = aad || be64(i) || final-flag, so chunks
// cannot be reordered, dropped, replayed into another stream or cut short without detection.
// `aad` is the attestation report's hash: a stream sealed for one report opens under no other.
// Any failure throws SealError; nothing of a chunk that failed authentication is returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace veil::tee {

class SealError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An X25519 key pair whose private half never leaves this object (and this process).
class SealingKey {
 public:
  SealingKey();  // fresh, from OpenSSL's CSPRNG
  ~SealingKey();
  SealingKey(SealingKey&&) noexcept;
  SealingKey& operator=(SealingKey&&) noexcept;
  [[nodiscard]] const std::string& public_key() const { return public_; }  // raw, 32 bytes
  // X25519(private, peer): the raw shared secret. Throws SealError for a malformed peer key.
  [[nodiscard]] std::string agree(const std::string& peer_public) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string public_;
};

inline constexpr std::size_t kDefaultSealChunk = std::size_t{4} << 20;

// The sending side of one stream.
class Sealer {
 public:
  // Throws SealError for a malformed recipient key.
  Sealer(const std::string& recipient_public, std::string aad);
  [[nodiscard]] const std::string& header() const { return header_; }
  // Seals the next chunk; `final` marks the last one (after it, seal() throws std::logic_error).
  [[nodiscard]] std::string seal(const std::string& plaintext, bool final);

 private:
  std::string header_, key_, aad_;
  std::uint64_t index_ = 0;
  bool done_ = false;
};

// The receiving side of one stream.
class Opener {
 public:
  // Throws SealError for a malformed header.
  Opener(const SealingKey& key, const std::string& header, std::string aad);
  // Opens the next chunk. Throws SealError when it fails authentication (tampered, reordered,
  // sealed for another key or report) or arrives after the final one.
  [[nodiscard]] std::string open(const std::string& chunk, bool final);
  [[nodiscard]] bool finished() const { return done_; }
  [[nodiscard]] std::uint64_t chunks() const { return index_; }

 private:
  std::string key_, aad_;
  std::uint64_t index_ = 0;
  bool done_ = false;
};

// One-shot helpers: the header followed by the chunks, and back.
struct SealedStream {
  std::string header;
  std::vector<std::string> chunks;  // the last one is final
};
[[nodiscard]] SealedStream seal(const std::string& recipient_public, const std::string& aad, const std::string& payload,
                                std::size_t chunk_bytes = kDefaultSealChunk);
// Throws SealError (also when the stream is empty or its last chunk is not final).
[[nodiscard]] std::string open(const SealingKey& key, const std::string& aad, const SealedStream& stream);

}  // namespace veil::tee
