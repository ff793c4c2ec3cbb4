#include "transport/peer_cert.h"

#include <memory>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace veil::transport {

Peer peer_from_certificate(X509* cert) {
  if (!cert) return Peer::without_identity("no certificate");
  using Names = std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)>;
  Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)), GENERAL_NAMES_free);
  std::optional<Peer> found;
  int veil_uris = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
    if (g->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = g->d.uniformResourceIdentifier;
    const std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (auto p = peer_from_uri(uri)) {
      ++veil_uris;
      found = std::move(p);
    }
  }
  char subject[256] = "?";
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  if (veil_uris > 1) return Peer::without_identity(std::string("subject ") + subject + ": several veil:// URIs");
  if (veil_uris == 0) return Peer::without_identity(std::string("subject ") + subject + ": no veil:// URI");
  return *found;
}

Peer peer_from_pem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return Peer::without_identity("a peer certificate that does not parse");
  return peer_from_certificate(cert.get());
}

}  // namespace veil::transport
