// veil ca init: a certificate authority for the parties of a deployment (docs/transport.md
// "Identities"). OpenSSL's C API underneath (veil/transport/pki.h).
#include <cstdio>

#include "command.h"
#include "veil/transport/pki.h"

namespace veil::cli {

Action add_ca(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("ca", "make a certificate authority for the parties' certificates");
  cmd->require_subcommand(1);
  auto* init = cmd->add_subcommand("init", "make a new CA: OUT/ca.pem (every party's --tls-ca) and OUT/ca.key (mode 0600)");
  auto out = std::make_shared<std::string>();
  auto opts = std::make_shared<transport::pki::CaOptions>();
  init->add_option("--out", *out, "directory for ca.pem and ca.key (an existing CA there is never overwritten)")->required();
  init->add_option("--name", opts->name, "the CA's common name")->capture_default_str();
  init->add_option("--days", opts->days, "validity in days (1-36500)")->capture_default_str();
  return [=] {
    const auto files = transport::pki::init_ca(*out, *opts);
    std::printf("CA certificate %s\nCA key         %s (mode 0600: keep it offline; it makes every identity)\n",
                files.cert.c_str(), files.key.c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{90, add_ca};
}  // namespace

}  // namespace veil::cli
