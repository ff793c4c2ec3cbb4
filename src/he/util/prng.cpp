#include "he/util/prng.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <iterator>

#include "veil/util/check.h"

namespace veil::he::detail {

Seed random_seed() {
  Seed s;
  VEIL_CHECK_IO(RAND_bytes(s.data(), static_cast<int>(s.size())) == 1, "OpenSSL RAND_bytes failed");
  return s;
}

Prg::Prg(const Seed& seed, Domain domain, uint64_t index) : ctx_(nullptr), pos_(0) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  VEIL_CHECK_IO(ctx != nullptr, "EVP_CIPHER_CTX_new failed");
  uint8_t iv[16] = {};
  uint32_t d = static_cast<uint32_t>(domain);
  for (int i = 0; i < 4; ++i) iv[i] = static_cast<uint8_t>(d >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) iv[4 + i] = static_cast<uint8_t>(index >> (56 - 8 * i));
  if (EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, seed.data(), iv) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    VEIL_CHECK_IO(false, "AES-256-CTR initialisation failed");
  }
  ctx_ = ctx;
  pos_ = buf_.size();
}

Prg::~Prg() {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(ctx_));  // cleanses the key schedule
  OPENSSL_cleanse(buf_.data(), buf_.size());
}

void Prg::refill() {
  static const uint8_t zeros[4096] = {};
  int outl = 0;
  VEIL_CHECK_IO(EVP_EncryptUpdate(static_cast<EVP_CIPHER_CTX*>(ctx_), buf_.data(), &outl, zeros,
                                  static_cast<int>(buf_.size())) == 1 &&
                    outl == static_cast<int>(buf_.size()),
                "AES-256-CTR keystream generation failed");
  pos_ = 0;
}

void Prg::fill(uint8_t* out, size_t len) {
  while (len > 0) {
    if (pos_ == buf_.size()) refill();
    size_t take = std::min(len, buf_.size() - pos_);
    std::copy_n(buf_.data() + pos_, take, out);
    pos_ += take;
    out += take;
    len -= take;
  }
}

uint64_t Prg::next_u64() {
  uint8_t b[8];
  fill(b, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
  return v;
}

void sample_uniform(Prg& prg, int log_q, std::span<uint64_t> out) {
  const uint64_t mask = log_q >= 64 ? ~0ull : ((1ull << log_q) - 1);
  prg.fill(reinterpret_cast<uint8_t*>(out.data()), out.size() * sizeof(uint64_t));
  for (auto& v : out) v &= mask;  // byte order is irrelevant for uniform words
}

void sample_ternary(Prg& prg, std::span<int8_t> out) {
  uint8_t buf[256];
  size_t i = 0;
  while (i < out.size()) {
    prg.fill(buf, sizeof buf);
    for (size_t j = 0; j < sizeof buf && i < out.size(); ++j) {
      if (buf[j] == 255) continue;  // 255 = 3 * 85: bytes 0..254 are uniform mod 3
      out[i++] = static_cast<int8_t>(static_cast<int>(buf[j] % 3) - 1);
    }
  }
}

void sample_error(Prg& prg, std::span<int8_t> out) {
  static_assert(2 * kErrorEta <= 64, "one keystream word per coefficient");
  constexpr uint64_t half = (uint64_t{1} << kErrorEta) - 1;
  uint64_t words[256];
  size_t i = 0;
  while (i < out.size()) {
    const size_t take = std::min(out.size() - i, std::size(words));
    prg.fill(reinterpret_cast<uint8_t*>(words), take * sizeof(uint64_t));
    for (size_t j = 0; j < take; ++j) {
      const int x = std::popcount(words[j] & half) - std::popcount((words[j] >> kErrorEta) & half);
      out[i + j] = static_cast<int8_t>(std::clamp(x, -kErrorBound, kErrorBound));
    }
    i += take;
  }
  OPENSSL_cleanse(words, sizeof words);
}

}  // namespace veil::he::detail
