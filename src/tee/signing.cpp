// Signing keys and verification keys through OpenSSL's EVP interface (signing.h).
#include "veil/tee/signing.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace fs = std::filesystem;
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Ed25519 and Ed448 sign the message itself; other key types sign its SHA-256.
const EVP_MD* digest_for(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
}

std::string der_public(EVP_PKEY* key) {
  unsigned char* out = nullptr;
  const int n = i2d_PUBKEY(key, &out);
  if (n <= 0) throw KeyError("cannot encode the public key as SubjectPublicKeyInfo");
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return der;
}

std::string read_key_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw KeyError("key file " + file.string() + ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().size() > (1 << 20)) throw KeyError("key file " + file.string() + ": larger than 1 MiB");
  return s.str();
}

Bio memory_bio(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

struct SigningKey::Impl {
  Pkey key;
};
struct VerifyKey::Impl {
  Pkey key;
};

SigningKey::SigningKey() : impl_(std::make_unique<Impl>()) {}
SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

SigningKey SigningKey::generate() {
  SigningKey k;
  k.impl_->key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  VEIL_CHECK_IO(k.impl_->key != nullptr, "Ed25519 key generation failed");
  k.public_ = der_public(k.impl_->key.get());
  return k;
}

SigningKey SigningKey::load_pem(const fs::path& file) {
  const std::string text = read_key_file(file);
  auto bio = memory_bio(text);
  SigningKey k;
  k.impl_->key.reset(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!k.impl_->key)
    throw KeyError("key file " + file.string() + ": not an unencrypted private key in PEM");
  k.public_ = der_public(k.impl_->key.get());
  return k;
}

SigningKey SigningKey::load_or_create(const fs::path& file) {
  if (fs::exists(file)) return load_pem(file);
  auto k = generate();
  k.save_pem(file);
  return k;
}

void SigningKey::save_pem(const fs::path& file) const {
  Bio bio(BIO_new(BIO_s_mem()));
  VEIL_CHECK_IO(bio && PEM_write_bio_PKCS8PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
                "cannot encode the private key as PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const fs::path tmp = file.string() + ".tmp-" + to_hex(random_bytes(6));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  VEIL_CHECK_IO(fd >= 0, "cannot create ", tmp.string(), ": ", std::strerror(errno));
  const bool ok = ::write(fd, data, static_cast<std::size_t>(n)) == n && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot write the key file " + file.string());
  }
}

std::string SigningKey::sign(const std::string& message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  VEIL_CHECK_IO(ctx && EVP_DigestSignInit(ctx.get(), nullptr, digest_for(impl_->key.get()), nullptr, impl_->key.get()) == 1 &&
                    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) == 1,
                "signing failed");
  std::string sig(len, '\0');
  VEIL_CHECK_IO(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1,
                "signing failed");
  sig.resize(len);
  return sig;
}

VerifyKey::VerifyKey() : impl_(std::make_unique<Impl>()) {}
VerifyKey::~VerifyKey() = default;
VerifyKey::VerifyKey(VerifyKey&&) noexcept = default;
VerifyKey& VerifyKey::operator=(VerifyKey&&) noexcept = default;

VerifyKey VerifyKey::from_der(const std::string& spki) {
  if (spki.empty() || spki.size() > 16384) throw KeyError("public key: empty or larger than 16 KiB");
  const auto* p = reinterpret_cast<const unsigned char*>(spki.data());
  VerifyKey k;
  k.impl_->key.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!k.impl_->key || p != reinterpret_cast<const unsigned char*>(spki.data()) + spki.size())
    throw KeyError("public key: not a DER SubjectPublicKeyInfo");
  k.der_ = spki;
  return k;
}

VerifyKey VerifyKey::load_pem(const fs::path& file) {
  const std::string text = read_key_file(file);
  VerifyKey k;
  if (auto bio = memory_bio(text)) k.impl_->key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!k.impl_->key) {
    if (auto bio = memory_bio(text)) {
      X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (cert) {
        k.impl_->key.reset(X509_get_pubkey(cert));
        X509_free(cert);
      }
    }
  }
  if (!k.impl_->key)
    if (auto bio = memory_bio(text)) k.impl_->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k.impl_->key)
    throw KeyError("key file " + file.string() + ": not a PEM public key, certificate or private key");
  k.der_ = der_public(k.impl_->key.get());
  return k;
}

std::string VerifyKey::fingerprint() const { return to_hex(sha256(der_)); }

bool VerifyKey::verify(const std::string& message, const std::string& signature) const {
  if (signature.empty() || signature.size() > 16384) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, digest_for(impl_->key.get()), nullptr, impl_->key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace veil::tee
