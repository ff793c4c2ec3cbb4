// Keys and certificates an attacker can make for themselves, for the verifier tests: a look-alike
// self-signed root with a genuine root's name, and a P-256 key that signs as a quote's attestation
// key. OpenSSL underneath; nothing here is trusted by the code under test.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "veil/tee/x509.h"

namespace veil::tee::testing {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;

inline PkeyPtr new_p256_key() { return PkeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free); }
inline PkeyPtr new_rsa_key() { return PkeyPtr(EVP_RSA_gen(2048), EVP_PKEY_free); }

inline X509_NAME* parse_name(const std::string& name) {  // "/K=V/K=V"
  X509_NAME* n = X509_NAME_new();
  std::string rest = name;
  while (!rest.empty()) {
    const auto eq = rest.find('='), next = rest.find('/', 1);
    const std::string k = rest.substr(1, eq - 1), v = rest.substr(eq + 1, next == std::string::npos ? next : next - eq - 1);
    X509_NAME_add_entry_by_txt(n, k.c_str(), MBSTRING_ASC, reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
    rest = next == std::string::npos ? "" : rest.substr(next);
  }
  return n;
}

// A certificate for `key` named `subject`, issued by `issuer` and signed with `issuer_key`:
// RSA-PSS/SHA-384/salt 48 when `pss` (as AMD signs), else the key's default with SHA-256. A CA
// unless `copy_extensions_from` is given, whose extensions (a genuine VCEK's AMD ones) are copied.
inline Certificate issue(const std::string& subject, EVP_PKEY* key, const std::string& issuer, EVP_PKEY* issuer_key,
                         bool pss, X509* copy_extensions_from = nullptr) {
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_NAME* s = parse_name(subject);
  X509_NAME* i = parse_name(issuer);
  X509_set_version(x.get(), 2);
  X509_set_subject_name(x.get(), s);
  X509_set_issuer_name(x.get(), i);
  X509_NAME_free(s);
  X509_NAME_free(i);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600L * 24 * 365 * 10);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600L * 24 * 365 * 30);
  X509_set_pubkey(x.get(), key);
  if (copy_extensions_from != nullptr) {
    for (int e = 0; e < X509_get_ext_count(copy_extensions_from); ++e)
      X509_add_ext(x.get(), X509_get_ext(copy_extensions_from, e), -1);
  } else {
    X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x.get(), bc, -1);
    X509_EXTENSION_free(bc);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestSignInit(ctx.get(), &pctx, pss ? EVP_sha384() : EVP_sha256(), nullptr, issuer_key);
  if (pss) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384());
  }
  if (X509_sign_ctx(x.get(), ctx.get()) <= 0) throw std::runtime_error("X509_sign_ctx failed");
  unsigned char* der = nullptr;
  const int len = i2d_X509(x.get(), &der);
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return Certificate::from_der(bytes);
}

// A self-signed CA certificate whose subject and issuer are `name` (one-line "/O=.../CN=..." form).
inline Certificate self_signed(const std::string& name, EVP_PKEY* key) { return issue(name, key, name, key, false); }

// x || y of a P-256 key (64 bytes).
inline std::string p256_xy(EVP_PKEY* key) {
  unsigned char buf[65];
  std::size_t len = 0;
  EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len);
  if (len != 65) throw std::runtime_error("not an uncompressed P-256 point");
  return std::string(reinterpret_cast<const char*>(buf) + 1, 64);
}

// ECDSA P-256/SHA-256 over `data`, as r || s (32 bytes each, big-endian).
inline std::string sign_p256_raw(EVP_PKEY* key, const std::string& data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return out;
}

// ECDSA P-384/SHA-384 over `data` as SEV-SNP stores it: r and s little-endian in 72-byte fields.
inline std::string sign_p384_snp(EVP_PKEY* key, const std::string& data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key);
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::string out(144, '\0');
  BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 72);
  BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 72, 72);
  ECDSA_SIG_free(sig);
  return out;
}

}  // namespace veil::tee::testing
