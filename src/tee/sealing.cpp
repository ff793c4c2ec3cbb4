// X25519 + HKDF-SHA256 + AES-256-GCM sealing in chunks (OpenSSL EVP); format in sealing.h.
#include "veil/tee/sealing.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

constexpr char kMagic[8] = {'V', 'E', 'I', 'L', 'S', 'E', 'A', 'L'};
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kKeyBytes = 32, kSaltBytes = 32, kTagBytes = 16;
constexpr std::size_t kHeaderBytes = sizeof(kMagic) + 1 + kKeyBytes + kSaltBytes;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* u8(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* u8(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// HKDF-SHA256(ikm = shared secret, salt, info = label || ephemeral || recipient) → 32-byte key.
std::string derive_key(const std::string& shared, const std::string& salt, const std::string& eph,
                       const std::string& recipient) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  const std::string info = std::string("veil-seal-v1 aes-256-gcm") + eph + recipient;
  std::string key(kKeyBytes, '\0');
  std::size_t len = key.size();
  VEIL_CHECK_IO(ctx && EVP_PKEY_derive_init(ctx.get()) == 1 && EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) == 1 &&
                    EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), u8(salt), static_cast<int>(salt.size())) == 1 &&
                    EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), u8(shared), static_cast<int>(shared.size())) == 1 &&
                    EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), u8(info), static_cast<int>(info.size())) == 1 &&
                    EVP_PKEY_derive(ctx.get(), u8(key), &len) == 1 && len == kKeyBytes,
                "sealing: HKDF-SHA256 failed");
  return key;
}

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

std::string chunk_aad(const std::string& aad, std::uint64_t index, bool final) {
  return aad + be64(index) + std::string(1, final ? '\1' : '\0');
}

std::string chunk_iv(std::uint64_t index) { return std::string(4, '\0') + be64(index); }

Pkey public_from_raw(const std::string& raw) {
  if (raw.size() != kKeyBytes) throw SealError(util::cat("sealing: an X25519 public key has 32 bytes, got ", raw.size()));
  Pkey p(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u8(raw), raw.size()));
  if (!p) throw SealError("sealing: malformed X25519 public key");
  return p;
}

std::string agree(EVP_PKEY* priv, const std::string& peer_public) {
  Pkey peer = public_from_raw(peer_public);
  PkeyCtx ctx(EVP_PKEY_CTX_new(priv, nullptr));
  std::size_t len = 0;
  VEIL_CHECK(ctx && EVP_PKEY_derive_init(ctx.get()) == 1 && EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) == 1 &&
                 EVP_PKEY_derive(ctx.get(), nullptr, &len) == 1,
             SealError, "sealing: X25519 key agreement failed (bad peer key)");
  std::string secret(len, '\0');
  VEIL_CHECK(EVP_PKEY_derive(ctx.get(), u8(secret), &len) == 1, SealError, "sealing: X25519 key agreement failed");
  secret.resize(len);
  return secret;
}

Pkey fresh_x25519() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  VEIL_CHECK_IO(raw != nullptr, "sealing: X25519 key generation failed");
  return Pkey(raw);
}

std::string raw_public(EVP_PKEY* p) {
  std::string out(kKeyBytes, '\0');
  std::size_t len = out.size();
  VEIL_CHECK_IO(EVP_PKEY_get_raw_public_key(p, u8(out), &len) == 1 && len == kKeyBytes,
                "sealing: cannot export an X25519 public key");
  return out;
}

}  // namespace

struct SealingKey::Impl {
  Pkey pkey;
};

SealingKey::SealingKey() : impl_(std::make_unique<Impl>()) {
  impl_->pkey = fresh_x25519();
  public_ = raw_public(impl_->pkey.get());
}
SealingKey::~SealingKey() = default;
SealingKey::SealingKey(SealingKey&&) noexcept = default;
SealingKey& SealingKey::operator=(SealingKey&&) noexcept = default;

std::string SealingKey::agree(const std::string& peer_public) const { return tee::agree(impl_->pkey.get(), peer_public); }

Sealer::Sealer(const std::string& recipient_public, std::string aad) : aad_(std::move(aad)) {
  (void)public_from_raw(recipient_public);  // validates
  Pkey eph = fresh_x25519();
  const std::string eph_pub = raw_public(eph.get());
  const std::string salt = random_bytes(kSaltBytes);
  key_ = derive_key(tee::agree(eph.get(), recipient_public), salt, eph_pub, recipient_public);
  header_.assign(kMagic, sizeof(kMagic));
  header_.push_back(static_cast<char>(kVersion));
  header_ += eph_pub;
  header_ += salt;
}

std::string Sealer::seal(const std::string& plaintext, bool final) {
  VEIL_CHECK_STATE(!done_, "sealing: the stream was already finished");
  VEIL_CHECK_ARG(plaintext.size() < (std::size_t{1} << 31), "sealing: a chunk must be under 2 GiB");
  const std::string iv = chunk_iv(index_), aad = chunk_aad(aad_, index_, final);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kTagBytes, '\0');
  int len = 0, fin = 0;
  VEIL_CHECK_IO(ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key_), u8(iv)) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), u8(out), &len, u8(plaintext), static_cast<int>(plaintext.size())) == 1 &&
                    EVP_EncryptFinal_ex(ctx.get(), u8(out) + len, &fin) == 1 &&
                    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, u8(out) + plaintext.size()) == 1,
                "sealing: AES-256-GCM encryption failed");
  ++index_;
  done_ = final;
  return out;
}

Opener::Opener(const SealingKey& key, const std::string& header, std::string aad) : aad_(std::move(aad)) {
  if (header.size() != kHeaderBytes || header.compare(0, sizeof(kMagic), std::string(kMagic, sizeof(kMagic))) != 0)
    throw SealError("sealed stream: bad header (not a Veil sealed stream)");
  if (static_cast<std::uint8_t>(header[sizeof(kMagic)]) != kVersion)
    throw SealError(util::cat("sealed stream: unsupported version ", static_cast<int>(header[sizeof(kMagic)])));
  const std::string eph = header.substr(sizeof(kMagic) + 1, kKeyBytes);
  const std::string salt = header.substr(sizeof(kMagic) + 1 + kKeyBytes, kSaltBytes);
  key_ = derive_key(key.agree(eph), salt, eph, key.public_key());
}

std::string Opener::open(const std::string& chunk, bool final) {
  if (done_) throw SealError("sealed stream: a chunk after the final one");
  if (chunk.size() < kTagBytes) throw SealError(util::cat("sealed stream: chunk ", index_, " is truncated"));
  const std::size_t n = chunk.size() - kTagBytes;
  const std::string iv = chunk_iv(index_), aad = chunk_aad(aad_, index_, final);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(n, '\0');
  std::string tag = chunk.substr(n);
  int len = 0, fin = 0;
  const bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key_), u8(iv)) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), u8(out), &len, u8(chunk), static_cast<int>(n)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, u8(tag)) == 1 &&
                  EVP_DecryptFinal_ex(ctx.get(), u8(out) + len, &fin) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    throw SealError(util::cat("sealed stream: chunk ", index_,
                              " failed authentication (tampered, reordered, truncated, or sealed for another enclave "
                              "key or attestation report)"));
  }
  ++index_;
  done_ = final;
  return out;
}

SealedStream seal(const std::string& recipient_public, const std::string& aad, const std::string& payload,
                  std::size_t chunk_bytes) {
  VEIL_CHECK_ARG(chunk_bytes > 0, "sealing: chunk size must be positive");
  Sealer s(recipient_public, aad);
  SealedStream out{s.header(), {}};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min(chunk_bytes, payload.size() - pos);
    out.chunks.push_back(s.seal(payload.substr(pos, n), pos + n == payload.size()));
    pos += n;
  } while (pos < payload.size());
  return out;
}

std::string open(const SealingKey& key, const std::string& aad, const SealedStream& stream) {
  if (stream.chunks.empty()) throw SealError("sealed stream: no chunks");
  Opener o(key, stream.header, aad);
  std::string out;
  for (std::size_t i = 0; i < stream.chunks.size(); ++i) out += o.open(stream.chunks[i], i + 1 == stream.chunks.size());
  return out;
}

}  // namespace veil::tee
