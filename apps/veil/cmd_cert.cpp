// veil cert issue: a party's certificate carrying its identity, veil://ROLE/NAME (docs/transport.md
// "Identities"), signed by a CA made with `veil ca init`. OpenSSL's C API underneath.
#include <cstdio>

#include "command.h"
#include "veil/transport/pki.h"

namespace veil::cli {

Action add_cert(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("cert", "issue the certificates parties present (mutual TLS with identities)");
  cmd->require_subcommand(1);
  auto* issue = cmd->add_subcommand(
      "issue", "issue a certificate for one party: OUT/cert.pem, OUT/key.pem (mode 0600), OUT/ca.pem");
  auto ca = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>();
  auto req = std::make_shared<transport::pki::CertRequest>();
  issue->add_option("--ca", *ca, "the CA directory (from veil ca init)")->required();
  issue->add_option("--role", *role, "the party's role: " + transport::all_role_names())->required();
  issue->add_option("--name", req->name, "the party's name (1-64 of A-Z a-z 0-9 . _ -), e.g. acme")->required();
  issue->add_option("--out", *out, "directory for the files (existing ones are never overwritten)")->required();
  issue->add_option("--dns", req->dns, "a DNS name the party serves under (repeatable; servers: workers, enclave)");
  issue->add_option("--ip", req->ips, "an IP address the party serves under (repeatable)");
  issue->add_option("--days", req->days, "validity in days (1-36500, within the CA's)")->capture_default_str();
  return [=] {
    const auto parsed = transport::parse_role(*role);
    if (!parsed)
      throw std::invalid_argument("--role '" + *role + "' is not a role (one of: " + transport::all_role_names() + ")");
    auto request = *req;
    request.role = parsed;
    const auto files = transport::pki::issue_certificate(*ca, request, *out);
    std::printf("identity    %s\ncertificate %s\nkey         %s (mode 0600)\nCA          %s\n",
                transport::identity_uri(*parsed, request.name).c_str(), files.cert.c_str(), files.key.c_str(),
                files.ca.c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{91, add_cert};
}  // namespace

}  // namespace veil::cli
