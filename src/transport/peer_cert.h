// The veil identity in a TLS peer certificate (veil/transport/identity.h): what both wires (gRPC's
// auth context, the TLS stream's connection) use to name the caller. Internal to the transport.
#pragma once

#include <string>

#include "veil/transport/identity.h"

typedef struct x509_st X509;

namespace veil::transport {

// Peer::identified when the certificate's subjectAltName holds exactly one veil:// URI and that URI
// is valid; Peer::without_identity naming what it holds otherwise (none, several, malformed).
[[nodiscard]] Peer peer_from_certificate(X509* cert);
// The same for a PEM certificate (gRPC's "x509_pem_cert" property); without_identity when it
// does not parse.
[[nodiscard]] Peer peer_from_pem(const std::string& pem);

}  // namespace veil::transport
