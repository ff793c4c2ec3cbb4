// Making the certificates parties present (`veil ca init`, `veil cert issue`), with OpenSSL's C
// API: a CA, and per party a certificate carrying its identity as a subjectAltName URI
// `veil://ROLE/NAME` (identity.h) plus the DNS names and IP addresses it serves under. Keys are
// ECDSA P-256, written atomically with mode 0600; certificates are X.509 v3 with a random 128-bit
// serial, usable for TLS server and client authentication. docs/transport.md "Identities".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "veil/transport/identity.h"

namespace veil::transport::pki {

// The files of a CA directory (ca init --out DIR): DIR/ca.pem (give it to every party, --tls-ca)
// and DIR/ca.key (keep it with whoever issues certificates; mode 0600).
struct CaFiles {
  std::filesystem::path cert, key;
};
[[nodiscard]] CaFiles ca_files(const std::filesystem::path& dir);

struct CaOptions {
  std::string name = "veil-ca";  // the CA's subject CN
  int days = 3650;               // validity, 1-36500
};
// Makes a new CA in `dir` (created when missing). Throws std::invalid_argument for bad options or
// when `dir` already holds a ca.pem or ca.key (a CA is never overwritten); std::runtime_error when
// the files cannot be written.
CaFiles init_ca(const std::filesystem::path& dir, const CaOptions& options);

struct CertRequest {
  // The identity written in the certificate. Without a role the certificate carries none (every
  // operation refuses it): only tests make those, to check that they are refused.
  std::optional<Role> role;
  std::string name;
  std::vector<std::string> dns;  // subjectAltName DNS names (a server's host names)
  std::vector<std::string> ips;  // subjectAltName IP addresses (IPv4 or IPv6)
  int days = 365;                // validity, 1-36500 (not beyond the CA's)
};

// The files of an issued certificate (cert issue --out DIR): DIR/cert.pem (--tls-cert),
// DIR/key.pem (--tls-key, mode 0600) and DIR/ca.pem (a copy of the CA certificate, --tls-ca).
struct IssuedFiles {
  std::filesystem::path cert, key, ca;
};
[[nodiscard]] IssuedFiles issued_files(const std::filesystem::path& dir);

// Issues a certificate signed by the CA in `ca_dir` into `out_dir` (created when missing). Throws
// std::invalid_argument naming the problem: a missing or unreadable CA, a CA key that does not
// belong to its certificate, a bad name, DNS name or IP address, days out of range, or an
// `out_dir` that already holds a key.pem or cert.pem (never overwritten).
IssuedFiles issue_certificate(const std::filesystem::path& ca_dir, const CertRequest& request,
                              const std::filesystem::path& out_dir);

}  // namespace veil::transport::pki
