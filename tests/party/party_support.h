// Helpers of the `veil party` and environment-mirror tests: running bin/veil with extra
// environment variables, and a small certificate authority of their own (a CA plus one
// certificate per party, with the subjectAltNames the test needs), made with the openssl command.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/shared_assets.h"

namespace veil::party_test {
namespace fs = std::filesystem;

inline fs::path scratch_root() { return fs::temp_directory_path() / ("veil-party-test-" + std::to_string(::getpid())); }

// Removes every test's scratch directory when the test program ends.
struct RemoveScratch : ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_root(), ec);
  }
};
inline ::testing::Environment* const kRemoveScratch = ::testing::AddGlobalTestEnvironment(new RemoveScratch);

// This test's scratch directory (made on first use, never wiped while the test runs).
inline fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = scratch_root() /
                   (info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("veil"));
  fs::create_directories(dir);
  return dir;
}

struct Result {
  int rc = -1;
  std::string out, err;
};

// bin/veil ARGS with ENV ("NAME=value") added to this process's environment.
inline Result veil(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                   std::chrono::seconds timeout = std::chrono::seconds(60)) {
  static int n = 0;
  std::vector<std::string> argv{"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(veil::testing::veil_binary().string());
  argv.insert(argv.end(), args.begin(), args.end());
  const auto log = test_dir() / ("veil-" + std::to_string(++n));
  veil::testing::Child c(argv, log);
  Result r;
  const auto status = c.wait(timeout);
  r.rc = status ? *status : -1;
  r.out = c.out();
  r.err = c.err();
  return r;
}

// Waits for "listening on HOST:PORT" from a started party; "" (and a test failure) if it exits.
inline std::string listening_address(veil::testing::Child& c) {
  using namespace std::chrono_literals;
  static const std::regex listening("listening on (\\S+:[0-9]+)");
  for (int i = 0; i < 1500; ++i) {
    std::smatch m;
    const auto text = c.out() + c.err();
    if (std::regex_search(text, m, listening)) return m[1];
    if (c.wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "no 'listening on':\n" << c.out() << c.err();
  return "";
}

inline bool has_veil() { return fs::exists(veil::testing::veil_binary()); }

inline void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// certs/ca.pem and, for each party, certs/<name>.pem and .key with subjectAltName `san` (give each
// its identity, URI:veil://ROLE/NAME, which transport authorization requires: docs/transport.md).
struct PartyPki {
  std::string error;
  explicit PartyPki(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& parties) {
    fs::create_directories(dir / "certs");
    const std::string d = (dir / "certs").string();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto run = [&](const std::string& cmd) {
      if (!error.empty()) return;
      if (std::system(("cd '" + d + "' && " + cmd + " >>openssl.log 2>&1").c_str()) != 0) error = "openssl failed: " + cmd;
    };
    run("openssl req -x509" + ec + " -keyout ca.key -out ca.pem -days 2 -subj /CN=veil-party-test-ca");
    for (const auto& [name, san] : parties) {
      write(dir / "certs" / (name + ".ext"), "subjectAltName=" + san + "\n");
      run("openssl req" + ec + " -keyout " + name + ".key -out " + name + ".csr -subj /CN=" + name);
      run("openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out " + name +
          ".pem -extfile " + name + ".ext");
    }
  }
};

}  // namespace veil::party_test
