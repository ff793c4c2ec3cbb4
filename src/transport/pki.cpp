// Certificates for parties (veil/transport/pki.h), with OpenSSL's C API.
#include "veil/transport/pki.h"

#include <arpa/inet.h>

#include <memory>
#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veil/util/file_io.h"

namespace veil::transport::pki {
namespace fs = std::filesystem;
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + openssl_errors()); }

Key new_key() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) fail("cannot write a key");
  return bio_text(bio.get());
}

std::string cert_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("cannot write a certificate");
  return bio_text(bio.get());
}

void check_days(int days) {
  if (days < 1 || days > 36500) throw std::invalid_argument("--days " + std::to_string(days) + " is out of range (1-36500)");
}

// A new certificate: version 3, a random positive 128-bit serial, valid from five minutes ago
// (clock skew between parties) for `days`, with subject CN=`cn`.
Cert new_cert(EVP_PKEY* key, const std::string& cn, int days) {
  Cert cert(X509_new(), X509_free);
  if (!cert || X509_set_version(cert.get(), 2) != 1) fail("cannot make a certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("no randomness for a serial number");
  serial[0] &= 0x7f;
  serial[0] |= 0x01;  // positive, and never zero
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) fail("cannot set a serial number");
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr))
    fail("cannot set the validity");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1)
    fail("cannot set the subject");
  if (X509_set_pubkey(cert.get(), key) != 1) fail("cannot set the public key");
  return cert;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("cannot make the extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) fail("cannot add the extension " + std::string(OBJ_nid2sn(nid)));
}

void sign(X509* cert, X509* issuer, EVP_PKEY* issuer_key) {
  if (X509_set_issuer_name(cert, X509_get_subject_name(issuer)) != 1) fail("cannot set the issuer");
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) fail("cannot sign the certificate");
}

bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    (c == '*' && i == 0 && name.size() > 1 && name[1] == '.');
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && name.front() != '-';
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

void refuse_existing(const fs::path& path, const char* what) {
  std::error_code ec;
  if (fs::exists(path, ec))
    throw std::invalid_argument(path.string() + " already exists: " + what + " is never overwritten (choose another --out)");
}

std::string read_for(const fs::path& path, const std::string& what) {
  try {
    return util::read_file(path);
  } catch (const std::exception&) {
    throw std::invalid_argument(what + " " + path.string() + " cannot be read");
  }
}

}  // namespace

CaFiles ca_files(const fs::path& dir) { return {dir / "ca.pem", dir / "ca.key"}; }
IssuedFiles issued_files(const fs::path& dir) { return {dir / "cert.pem", dir / "key.pem", dir / "ca.pem"}; }

CaFiles init_ca(const fs::path& dir, const CaOptions& options) {
  check_days(options.days);
  if (options.name.empty() || options.name.size() > 64)
    throw std::invalid_argument("the CA name must be 1-64 characters");
  const CaFiles files = ca_files(dir);
  refuse_existing(files.cert, "a CA certificate");
  refuse_existing(files.key, "a CA key");
  Key key = new_key();
  Cert cert = new_cert(key.get(), options.name, options.days);
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  sign(cert.get(), cert.get(), key.get());
  util::write_private_file_atomic(files.key, key_pem(key.get()));
  util::write_file_atomic(files.cert, cert_pem(cert.get()));
  return files;
}

IssuedFiles issue_certificate(const fs::path& ca_dir, const CertRequest& request, const fs::path& out_dir) {
  check_days(request.days);
  if (!valid_identity_name(request.name))
    throw std::invalid_argument("--name '" + request.name +
                                "' is not valid (1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)");
  for (const auto& d : request.dns)
    if (!valid_dns_name(d)) throw std::invalid_argument("--dns '" + d + "' is not a DNS name");
  for (const auto& ip : request.ips)
    if (!valid_ip(ip)) throw std::invalid_argument("--ip '" + ip + "' is not an IPv4 or IPv6 address");

  const CaFiles ca = ca_files(ca_dir);
  const std::string ca_pem = read_for(ca.cert, "the CA certificate");
  const std::string ca_key_pem = read_for(ca.key, "the CA key");
  Bio cb(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())), BIO_free);
  Cert ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
  if (!ca_cert) throw std::invalid_argument(ca.cert.string() + " is not a PEM certificate");
  Bio kb(BIO_new_mem_buf(ca_key_pem.data(), static_cast<int>(ca_key_pem.size())), BIO_free);
  Key ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!ca_key) throw std::invalid_argument(ca.key.string() + " is not a PEM private key (or it is encrypted)");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
    throw std::invalid_argument(ca.key.string() + " does not belong to " + ca.cert.string());
  if (X509_check_ca(ca_cert.get()) < 1) throw std::invalid_argument(ca.cert.string() + " is not a CA certificate");
  ERR_clear_error();

  const IssuedFiles files = issued_files(out_dir);
  refuse_existing(files.cert, "a certificate");
  refuse_existing(files.key, "a key");
  Key key = new_key();
  const std::string cn = request.role ? std::string(to_string(*request.role)) + "/" + request.name : request.name;
  Cert cert = new_cert(key.get(), cn, request.days);
  if (ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(ca_cert.get())) > 0)
    throw std::invalid_argument("--days " + std::to_string(request.days) + " would outlive the CA " + ca.cert.string() +
                                " (issue for fewer days)");
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  std::string san;
  const auto add_san = [&](const std::string& entry) { san += (san.empty() ? "" : ",") + entry; };
  if (request.role) add_san("URI:" + identity_uri(*request.role, request.name));
  for (const auto& d : request.dns) add_san("DNS:" + d);
  for (const auto& ip : request.ips) add_san("IP:" + ip);
  if (!san.empty()) add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  sign(cert.get(), ca_cert.get(), ca_key.get());
  util::write_private_file_atomic(files.key, key_pem(key.get()));
  util::write_file_atomic(files.cert, cert_pem(cert.get()));
  util::write_file_atomic(files.ca, ca_pem);
  return files;
}

}  // namespace veil::transport::pki
