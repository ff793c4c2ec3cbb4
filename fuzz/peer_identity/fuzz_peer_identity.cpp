// libFuzzer target for reading a caller's identity: the input is tried as a subjectAltName URI
// (peer_from_uri) and as a DER certificate (peer_from_certificate, after OpenSSL parses it).
//
// Properties checked on every input:
//   - nothing but a Peer comes back (no exception, no crash);
//   - an identified peer has a known role and a valid name, and its URI parses back to itself;
//   - a peer without an identity is admitted by no operation.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <openssl/x509.h>

#include "transport/peer_cert.h"
#include "veil/transport/identity.h"

namespace {

using namespace veil::transport;

const Roles kAll{Role::kModelOwner, Role::kDataOwner, Role::kWorker, Role::kEnclave};

void check(const Peer& p) {
  if (p.kind() == Peer::Kind::kIdentified) {
    if (!p.role() || !valid_identity_name(p.name())) std::abort();
    auto again = peer_from_uri(identity_uri(*p.role(), p.name()));
    if (!again || again->key() != p.key()) std::abort();
  } else if (p.admitted_by(kAll) != (p.kind() == Peer::Kind::kUnauthenticated)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto p = peer_from_uri(text)) check(*p);
  const unsigned char* der = data;
  if (X509* cert = d2i_X509(nullptr, &der, static_cast<long>(size))) {
    check(peer_from_certificate(cert));
    X509_free(cert);
  }
  return 0;
}
