// Test certificates made with veil's own issuer (veil/transport/pki.h, what `veil ca init` and
// `veil cert issue` run) in a scratch directory: a CA and one certificate per role, plus
// certificates that must be refused: one from the same CA without a veil identity, and one from a
// second, unrelated CA (a stranger).
//
//   server_*      veil://worker/test       DNS:localhost, IP:127.0.0.1 (or `server_san`)
//   worker2_*     veil://worker/other      DNS:localhost, IP:127.0.0.1
//   enclave_*     veil://enclave/test      DNS:localhost, IP:127.0.0.1 (serves, and calls workers)
//   client_*      veil://data-owner/test
//   data_owner2_* veil://data-owner/other
//   model_owner_* veil://model-owner/test
//   anonymous_*   no veil identity         DNS:localhost, IP:127.0.0.1 (same CA)
//   stranger_*    veil://data-owner/stranger, signed by other_ca
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "veil/transport/pki.h"

namespace veil::testing {

struct TestPki {
  std::filesystem::path dir;
  std::filesystem::path ca, server_cert, server_key, client_cert, client_key;
  std::filesystem::path other_ca, stranger_cert, stranger_key;
  std::filesystem::path enclave_cert, enclave_key, model_owner_cert, model_owner_key;
  std::filesystem::path data_owner2_cert, data_owner2_key, worker2_cert, worker2_key;
  std::filesystem::path anonymous_cert, anonymous_key;
  std::string error;  // set when issuing failed

  // `server_san`: the DNS names and IP addresses of the server (worker) certificate, as
  // "DNS:name,IP:addr,...".
  static TestPki make(const std::string& name, const std::string& server_san = "DNS:localhost,IP:127.0.0.1") {
    namespace pki = transport::pki;
    using transport::Role;
    TestPki p;
    p.dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p.dir);
    std::filesystem::create_directories(p.dir);
    p.cleanup_ = std::shared_ptr<void>(nullptr, [d = p.dir](void*) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    });
    try {
      pki::CaOptions ca_opts;
      ca_opts.name = "veil-test-ca";
      ca_opts.days = 2;
      p.ca = pki::init_ca(p.dir / "ca", ca_opts).cert;
      ca_opts.name = "veil-test-other-ca";
      p.other_ca = pki::init_ca(p.dir / "other_ca", ca_opts).cert;
      std::vector<std::string> dns, ips;
      for (std::size_t start = 0; start <= server_san.size();) {
        const auto comma = std::min(server_san.find(',', start), server_san.size());
        const std::string entry = server_san.substr(start, comma - start);
        if (entry.rfind("DNS:", 0) == 0) dns.push_back(entry.substr(4));
        else if (entry.rfind("IP:", 0) == 0) ips.push_back(entry.substr(3));
        start = comma + 1;
      }
      const auto issue = [&](const std::string& who, std::optional<Role> role, const std::string& id_name, bool server,
                             const std::string& ca_dir = "ca") {
        pki::CertRequest r;
        r.role = role;
        r.name = id_name;
        r.days = 1;
        if (server) {
          r.dns = {"localhost"};
          r.ips = {"127.0.0.1"};
        }
        return pki::issue_certificate(p.dir / ca_dir, r, p.dir / who);
      };
      {
        pki::CertRequest r;
        r.role = Role::kWorker;
        r.name = "test";
        r.days = 1;
        r.dns = dns;
        r.ips = ips;
        const auto f = pki::issue_certificate(p.dir / "ca", r, p.dir / "server");
        p.server_cert = f.cert, p.server_key = f.key;
      }
      auto f = issue("client", Role::kDataOwner, "test", false);
      p.client_cert = f.cert, p.client_key = f.key;
      f = issue("enclave", Role::kEnclave, "test", true);
      p.enclave_cert = f.cert, p.enclave_key = f.key;
      f = issue("model_owner", Role::kModelOwner, "test", false);
      p.model_owner_cert = f.cert, p.model_owner_key = f.key;
      f = issue("data_owner2", Role::kDataOwner, "other", false);
      p.data_owner2_cert = f.cert, p.data_owner2_key = f.key;
      f = issue("worker2", Role::kWorker, "other", true);
      p.worker2_cert = f.cert, p.worker2_key = f.key;
      f = issue("anonymous", std::nullopt, "anonymous", true);
      p.anonymous_cert = f.cert, p.anonymous_key = f.key;
      f = issue("stranger", Role::kDataOwner, "stranger", false, "other_ca");
      p.stranger_cert = f.cert, p.stranger_key = f.key;
    } catch (const std::exception& e) {
      p.error = std::string("cannot issue the test certificates: ") + e.what();
    }
    return p;
  }

 private:
  std::shared_ptr<void> cleanup_;  // removes `dir` when the last copy goes
};

}  // namespace veil::testing
