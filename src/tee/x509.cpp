// X.509 helpers for the hardware attestation verifiers (include/veil/tee/x509.h).
#include "veil/tee/x509.h"

#include <cctype>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veil/tee/attestation.h"
#include "veil/tee/timestamp.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using PssPtr = std::unique_ptr<RSA_PSS_PARAMS, Deleter<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

std::string name_entry(const X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::time_t to_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) throw AttestationError("certificate: unreadable validity time");
  return timegm(&tm);
}

std::string nid_name(int nid) {
  const char* sn = OBJ_nid2sn(nid);
  std::string s = sn ? sn : "unknown";
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Certificate Certificate::from_der(std::string_view der, std::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr) throw AttestationError(util::cat(what, ": not a DER X.509 certificate"));
  std::shared_ptr<X509> owned(x, X509_free);
  if (p != end) throw AttestationError(util::cat(what, ": ", end - p, " bytes after the DER certificate"));
  return Certificate(std::move(owned));
}

std::vector<Certificate> Certificate::parse_all(std::string_view bytes, std::string_view what) {
  std::vector<Certificate> out;
  if (bytes.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    out.push_back(from_der(bytes, what));
    return out;
  }
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  VEIL_CHECK_IO(bio != nullptr, "OpenSSL BIO_new_mem_buf failed");
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.push_back(Certificate(std::shared_ptr<X509>(x, X509_free)));
  ERR_clear_error();  // the loop ends on "no start line" or on a block it cannot read
  if (out.empty()) throw AttestationError(util::cat(what, ": no readable PEM certificate"));
  std::size_t blocks = 0;
  for (auto at = bytes.find("-----BEGIN CERTIFICATE-----"); at != std::string_view::npos;
       at = bytes.find("-----BEGIN CERTIFICATE-----", at + 1))
    ++blocks;
  if (out.size() != blocks)  // never drop a corrupted certificate silently
    throw AttestationError(util::cat(what, ": PEM certificate ", out.size() + 1, " of ", blocks, " is unreadable"));
  return out;
}

std::string Certificate::subject() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(x_.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string Certificate::subject_cn() const { return name_entry(X509_get_subject_name(x_.get()), NID_commonName); }
std::string Certificate::issuer_cn() const { return name_entry(X509_get_issuer_name(x_.get()), NID_commonName); }

bool Certificate::self_issued() const {
  return X509_NAME_cmp(X509_get_subject_name(x_.get()), X509_get_issuer_name(x_.get())) == 0;
}

bool Certificate::is_ca() const { return X509_check_ca(x_.get()) == 1; }

EVP_PKEY* Certificate::public_key() const {
  EVP_PKEY* k = X509_get0_pubkey(x_.get());
  if (k == nullptr) throw AttestationError(util::cat("certificate '", subject_cn(), "': unreadable public key"));
  return k;
}

std::string Certificate::spki_sha256() const {
  unsigned char* der = nullptr;
  const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x_.get()), &der);
  if (n <= 0) throw AttestationError(util::cat("certificate '", subject_cn(), "': unreadable public key"));
  std::string out = sha256(std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n)));
  OPENSSL_free(der);
  return out;
}

int Certificate::key_type() const { return EVP_PKEY_get_base_id(public_key()); }

std::string Certificate::curve() const {
  char name[64] = {0};
  std::size_t len = 0;
  if (key_type() != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(public_key(), OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1)
    return "";
  return std::string(name, len);
}

std::time_t Certificate::not_before() const { return to_time(X509_get0_notBefore(x_.get())); }
std::time_t Certificate::not_after() const { return to_time(X509_get0_notAfter(x_.get())); }

std::optional<std::string> Certificate::extension(const char* oid) const {
  ObjPtr obj(OBJ_txt2obj(oid, 1));
  VEIL_CHECK_ARG(obj != nullptr, "not an OID: ", oid);
  const int i = X509_get_ext_by_OBJ(x_.get(), obj.get(), -1);
  if (i < 0) return std::nullopt;
  if (X509_get_ext_by_OBJ(x_.get(), obj.get(), i) >= 0)
    throw AttestationError(util::cat("certificate '", subject_cn(), "': extension ", oid, " appears twice"));
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(X509_get_ext(x_.get(), i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                     static_cast<std::size_t>(ASN1_STRING_length(v)));
}

std::string Certificate::signature_algorithm() const {
  int md = 0, pk = 0, bits = 0;
  std::uint32_t flags = 0;
  if (X509_get_signature_info(x_.get(), &md, &pk, &bits, &flags) != 1) return "unknown";
  if (pk == EVP_PKEY_RSA_PSS) {
    const ASN1_BIT_STRING* sig = nullptr;
    const X509_ALGOR* alg = nullptr;
    X509_get0_signature(&sig, &alg, x_.get());
    const ASN1_OBJECT* obj = nullptr;
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    if (ptype != V_ASN1_SEQUENCE) return "rsassa-pss/unknown";
    const auto* seq = static_cast<const ASN1_STRING*>(pval);
    const unsigned char* p = ASN1_STRING_get0_data(seq);
    PssPtr pss(d2i_RSA_PSS_PARAMS(nullptr, &p, ASN1_STRING_length(seq)));
    if (!pss) return "rsassa-pss/unknown";
    const long salt = pss->saltLength ? ASN1_INTEGER_get(pss->saltLength) : 20;
    int mgf = NID_sha1;  // the defaults of RFC 4055: MGF1 with SHA-1
    if (pss->maskGenAlgorithm != nullptr) {
      if (OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1) return "rsassa-pss/unknown-mgf";
      const ASN1_TYPE* param = pss->maskGenAlgorithm->parameter;
      if (param == nullptr || param->type != V_ASN1_SEQUENCE) return "rsassa-pss/unknown-mgf";
      const unsigned char* q = ASN1_STRING_get0_data(param->value.sequence);
      X509_ALGOR* hash = d2i_X509_ALGOR(nullptr, &q, ASN1_STRING_length(param->value.sequence));
      if (hash == nullptr) return "rsassa-pss/unknown-mgf";
      mgf = OBJ_obj2nid(hash->algorithm);
      X509_ALGOR_free(hash);
    }
    return util::cat("rsassa-pss/", nid_name(md), "/mgf1-", nid_name(mgf), "/salt", salt);
  }
  if (pk == EVP_PKEY_EC) return "ecdsa/" + nid_name(md);
  if (pk == EVP_PKEY_RSA) return "rsa-pkcs1/" + nid_name(md);
  return nid_name(pk) + "/" + nid_name(md);
}

void Certificate::check_valid_at(std::time_t at, std::string_view what) const {
  if (ASN1_TIME_cmp_time_t(X509_get0_notBefore(x_.get()), at) > 0)
    throw AttestationError(util::cat(what, " '", subject_cn(), "' is not yet valid at ", format_timestamp(at), " (valid from ",
                                     format_timestamp(not_before()), ")"));
  if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(x_.get()), at) < 0)
    throw AttestationError(util::cat(what, " '", subject_cn(), "' expired before ", format_timestamp(at), " (valid until ",
                                     format_timestamp(not_after()), ")"));
}

void Certificate::verify_issued_by(const Certificate& issuer, std::string_view what, std::string_view issuer_what,
                                   std::time_t at) const {
  if (X509_NAME_cmp(X509_get_issuer_name(x_.get()), X509_get_subject_name(issuer.get())) != 0)
    throw AttestationError(util::cat(what, " '", subject_cn(), "' names issuer '", issuer_cn(), "', not the ",
                                     issuer_what, " '", issuer.subject_cn(), "'"));
  if (!issuer.is_ca())
    throw AttestationError(util::cat(issuer_what, " '", issuer.subject_cn(), "' is not a CA certificate"));
  const int ok = X509_verify(x_.get(), issuer.public_key());
  ERR_clear_error();
  if (ok != 1)
    throw AttestationError(util::cat("signature of the ", what, " '", subject_cn(), "' does not verify under the ",
                                     issuer_what, " '", issuer.subject_cn(), "'"));
  check_valid_at(at, what);
}

bool verify_ecdsa_raw(EVP_PKEY* key, std::string_view digest, std::string_view data, std::string_view r_be,
                      std::string_view s_be) {
  SigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(r_be.data()), static_cast<int>(r_be.size()), nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(s_be.data()), static_cast<int>(s_be.size()), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    throw std::runtime_error("OpenSSL ECDSA_SIG allocation failed");
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) throw std::runtime_error("OpenSSL i2d_ECDSA_SIG failed");
  std::unique_ptr<unsigned char, void (*)(void*)> der_owned(der, [](void* p) { OPENSSL_free(p); });
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = EVP_get_digestbyname(std::string(digest).c_str());
  VEIL_CHECK_ARG(md != nullptr, "unknown digest ", digest);
  const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::shared_ptr<EVP_PKEY> p256_public_key(std::string_view xy) {
  if (xy.size() != 64) throw AttestationError(util::cat("P-256 public key: ", xy.size(), " bytes, expected 64"));
  std::string point = "\x04" + std::string(xy);
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()), OSSL_PARAM_END};
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ERR_clear_error();
    throw AttestationError("P-256 public key: not a point on the curve");
  }
  std::shared_ptr<EVP_PKEY> owned(key, EVP_PKEY_free);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  const bool on_curve = check && EVP_PKEY_public_check(check.get()) == 1;
  ERR_clear_error();
  if (!on_curve) throw AttestationError("P-256 public key: not a point on the curve");
  return owned;
}

}  // namespace veil::tee
