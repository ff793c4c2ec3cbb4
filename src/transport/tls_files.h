// The TLS files of a party (--tls-cert, --tls-key, --tls-ca), read and checked once for every
// transport (gRPC and the TLS stream), and the loopback rule for --insecure. Internal to the
// transport; free of gRPC and libtorch.
#pragma once

#include <string>

#include "veil/transport/connect.h"

namespace veil::transport::tls_files {

struct Pems {
  std::string cert, key, ca;  // PEM text; cert and key empty for a client without a certificate
};

// Reads and checks the files: each parses, and the key belongs to the certificate. Throws
// std::invalid_argument naming the flag and file.
[[nodiscard]] Pems load(const TlsConfig& tls, bool need_own_cert);

// Throws std::invalid_argument unless `address` is a loopback address; prints the --insecure
// warning for `role` ("server", "connection") otherwise.
void check_insecure(const std::string& address, const char* role);

}  // namespace veil::transport::tls_files
