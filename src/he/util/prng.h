// Cryptographic randomness for veil::he: AES-256-CTR keystream (OpenSSL EVP) keyed by a 32-byte
// seed, with a 128-bit domain/index nonce so that every polynomial is expanded independently,
// and the samplers built on it (uniform mod 2^Q, uniform ternary, clipped centred binomial).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace veil::he::detail {

using Seed = std::array<uint8_t, 32>;

// Fresh seed from OpenSSL's CSPRNG (RAND_bytes, itself seeded from getrandom).
// Throws std::runtime_error if OpenSSL cannot provide randomness.
[[nodiscard]] Seed random_seed();

// Domains separate the uses of one seed.
enum class Domain : uint32_t { kCrsUniform = 1, kSecret = 2, kError = 3, kTest = 99 };

class Prg {
 public:
  // Keystream of AES-256-CTR(key = seed) starting at counter block (domain, index, 0).
  Prg(const Seed& seed, Domain domain, uint64_t index);
  ~Prg();
  Prg(const Prg&) = delete;
  Prg& operator=(const Prg&) = delete;

  void fill(uint8_t* out, size_t len);
  [[nodiscard]] uint64_t next_u64();

 private:
  void refill();
  void* ctx_;
  std::array<uint8_t, 4096> buf_;
  size_t pos_;
};

// Uniform coefficients in [0, 2^log_q) (exact: q is a power of two).
void sample_uniform(Prg& prg, int log_q, std::span<uint64_t> out);
// Uniform over {-1, 0, 1} by rejection sampling of bytes (255 is rejected).
void sample_ternary(Prg& prg, std::span<int8_t> out);
// Error coefficients: centred binomial CBD(21) (popcount of 21 AES-CTR bits minus popcount of 21
// more, as in Kyber/NewHope), standard deviation sqrt(21/2) = 3.24 >= the HE standard's 3.2, clipped
// to [-19, 19] so that the noise bound of docs/he.md section 3 (|e| <= 19) is unchanged (a clip
// happens with probability 2 * 43 / 2^42 < 2e-11 per coefficient). Constant time: one 64-bit
// keystream word per coefficient, popcounts and min/max, no branches or tables on secret data.
void sample_error(Prg& prg, std::span<int8_t> out);

inline constexpr int kErrorEta = 21;
inline constexpr double kErrorSigma = 3.24037034920393;  // sqrt(kErrorEta / 2)
inline constexpr int kErrorBound = 19;

}  // namespace veil::he::detail
