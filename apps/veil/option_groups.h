// Option groups declared once and shared by the commands that talk to other parties.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace veil::cli {

// Where a command keeps the `party` group's TLS flags: its own struct (std::string) or the designs'
// Parties (std::filesystem::path). server_name may be null for a command that only serves.
template <class File>
struct TlsTargets {
  File* cert;
  File* key;
  File* ca;
  std::string* server_name;
  bool* insecure;
};

// --tls-cert, --tls-key, --tls-ca, [--tls-server-name], --insecure on `cmd` (a command or one of its
// option groups), each with its environment mirror VEIL_<FLAG> (added by env_mirrors.cpp). `peers`
// names the other parties in the help ("the workers", "the enclave", ...).
template <class File>
void add_tls_options(CLI::App& cmd, const TlsTargets<File>& t, const std::string& peers) {
  cmd.add_option("--tls-cert", *t.cert, "this party's TLS certificate (PEM), presented to " + peers);
  cmd.add_option("--tls-key", *t.key, "this party's TLS private key (PEM)");
  cmd.add_option("--tls-ca", *t.ca, "CA certificate that signs " + peers + " (PEM)");
  if (t.server_name)
    cmd.add_option("--tls-server-name", *t.server_name,
                   "name the certificates of " + peers + " carry (default: the host of each address)");
  cmd.add_flag("--insecure", *t.insecure, "no TLS (loopback addresses only, for tests)");
}

}  // namespace veil::cli
