// The `split` / `gradfree` client's secret randomness: 32 bytes from OpenSSL's RAND_bytes, the key
// of a ChaCha20 keystream from which the client draws its LoRA initialisation and its
// zeroth-order (SPSA) directions. It never leaves the client: the server gets its own seed, drawn
// by itself. Kept in a 0600 file (--opt secret_file, or OUT/checkpoints/split_client_secret) so a
// resumed or repeated run can reproduce it.
//
// Without it (the code before this file), the client sent its run seed in split.open; with the
// public base model the server rebuilt the client's initial adapters (LoraAdapters(cfg, seed))
// and, from the gradients it returns and the learning rate it was sent, replayed the client's
// bottom blocks step by step.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

namespace veil::model {
class LoraAdapters;
}

namespace veil::designs::guarded {

// Keystream domains (the first 4 bytes of the ChaCha20 nonce).
inline constexpr std::uint32_t kDomainLoraInit = 1;  // index: layer·64 + projection; counter 0
inline constexpr std::uint32_t kDomainZo = 2;        // index: the tensor's order; counter: the step

class ClientSecret {
 public:
  // 32 fresh bytes from RAND_bytes.
  [[nodiscard]] static ClientSecret generate();
  // Reads 64 hex digits from `path`. Throws std::invalid_argument naming the path.
  [[nodiscard]] static ClientSecret load(const std::filesystem::path& path);
  // Loads `path` when it exists, otherwise generates a secret and saves it there.
  [[nodiscard]] static ClientSecret load_or_create(const std::filesystem::path& path);
  // Writes 64 hex digits, mode 0600, atomically (temporary file + rename).
  void save(const std::filesystem::path& path) const;

  // Uniform (0, 1) values (f64) from the keystream of (domain, index, counter): 32 bits each.
  [[nodiscard]] at::Tensor uniform(std::uint32_t domain, std::uint32_t index, std::uint32_t counter,
                                   at::IntArrayRef sizes) const;
  // Standard normal values (f32; Box–Muller on uniform()).
  [[nodiscard]] at::Tensor normal(std::uint32_t domain, std::uint32_t index, std::uint32_t counter,
                                  at::IntArrayRef sizes) const;

  [[nodiscard]] bool operator==(const ClientSecret& o) const { return key_ == o.key_; }

 private:
  std::array<unsigned char, 32> key_{};
};

// Re-draws A (Kaiming-uniform, bound 1/sqrt(in), as LoraAdapters does) of every pair whose layer
// satisfies `mine`, each from the secret's kDomainLoraInit stream of its site; sets their B to zero.
void init_client_lora(const ClientSecret& secret, model::LoraAdapters& lora, const std::function<bool(int)>& mine);

}  // namespace veil::designs::guarded
