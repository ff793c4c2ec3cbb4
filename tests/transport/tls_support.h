// Test certificates made with the `openssl` command in a scratch directory: a CA, a server
// certificate (for localhost/127.0.0.1 unless told otherwise), and a client certificate, plus a second, unrelated CA with
// its own client certificate (a stranger).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace veil::testing {

struct TestPki {
  std::filesystem::path dir;
  std::filesystem::path ca, server_cert, server_key, client_cert, client_key;
  std::filesystem::path other_ca, stranger_cert, stranger_key;
  std::string error;  // set when openssl is missing or failed

  // `server_san`: the subjectAltName of the server certificate.
  static TestPki make(const std::string& name, const std::string& server_san = "DNS:localhost,IP:127.0.0.1") {
    TestPki p;
    p.dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p.dir);
    std::filesystem::create_directories(p.dir);
    const std::string d = p.dir.string();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto run = [&](const std::string& cmd) {
      if (!p.error.empty()) return;
      if (std::system(("cd '" + d + "' && " + cmd + " >openssl.log 2>&1").c_str()) != 0) p.error = "openssl failed: " + cmd;
    };
    std::ofstream(p.dir / "server.ext") << "subjectAltName=" << server_san << "\n";
    for (const std::string ca : {"ca", "other_ca"})
      run("openssl req -x509" + ec + " -keyout " + ca + ".key -out " + ca + ".pem -days 2 -subj /CN=veil-test-" + ca);
    auto issue = [&](const std::string& who, const std::string& ca, const std::string& ext) {
      run("openssl req" + ec + " -keyout " + who + ".key -out " + who + ".csr -subj /CN=" + who);
      run("openssl x509 -req -in " + who + ".csr -CA " + ca + ".pem -CAkey " + ca + ".key -CAcreateserial -days 2 -out " + who +
          ".pem" + ext);
    };
    issue("server", "ca", " -extfile server.ext");
    issue("client", "ca", "");
    issue("stranger", "other_ca", "");
    p.ca = p.dir / "ca.pem";
    p.server_cert = p.dir / "server.pem";
    p.server_key = p.dir / "server.key";
    p.client_cert = p.dir / "client.pem";
    p.client_key = p.dir / "client.key";
    p.other_ca = p.dir / "other_ca.pem";
    p.stranger_cert = p.dir / "stranger.pem";
    p.stranger_key = p.dir / "stranger.key";
    return p;
  }
  ~TestPki() {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  TestPki() = default;
  TestPki(TestPki&& o) noexcept { *this = std::move(o); }
  TestPki& operator=(TestPki&& o) noexcept {
    dir = std::move(o.dir);
    ca = o.ca, server_cert = o.server_cert, server_key = o.server_key, client_cert = o.client_cert, client_key = o.client_key;
    other_ca = o.other_ca, stranger_cert = o.stranger_cert, stranger_key = o.stranger_key, error = o.error;
    o.dir.clear();
    return *this;
  }
};

}  // namespace veil::testing
