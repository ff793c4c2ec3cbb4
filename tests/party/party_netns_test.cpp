// The parties on addresses that are not loopback: a worker and a data owner each in its own Linux
// network namespace, joined by a veth pair with 10.x addresses that exist only inside the
// namespaces this test creates; each party started with `veil party --config FILE`, mutual TLS with
// certificates naming those addresses. Skipped with a message where `ip netns add` is not permitted.
#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <thread>

#include "party/party_support.h"
#include "veil/util/file_io.h"

namespace veil::party_test {
namespace {

using namespace std::chrono_literals;
using veil::testing::Child;
using veil::testing::veil_binary;

const fs::path kSource = VEIL_SOURCE_DIR;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Two namespaces, "<prefix>a" (10.77.0.1) and "<prefix>b" (10.77.0.2), removed at destruction.
struct Namespaces {
  std::string a, b, error;
  Namespaces() {
    const std::string p = "veilp" + std::to_string(::getpid());
    a = p + "a";
    b = p + "b";
    if (sh("ip netns add " + a) != 0) {
      error = "`ip netns add` is not permitted here (needs root and CAP_SYS_ADMIN)";
      a.clear();
      return;
    }
    const std::vector<std::string> steps = {
        "ip netns add " + b,
        "ip link add " + p + "x netns " + a + " type veth peer name " + p + "y netns " + b,
        "ip -n " + a + " addr add 10.77.0.1/24 dev " + p + "x",
        "ip -n " + b + " addr add 10.77.0.2/24 dev " + p + "y",
        "ip -n " + a + " link set lo up",
        "ip -n " + b + " link set lo up",
        "ip -n " + a + " link set " + p + "x up",
        "ip -n " + b + " link set " + p + "y up"};
    for (const auto& s : steps)
      if (sh(s) != 0) {
        error = "network namespace setup failed: " + s;
        return;
      }
  }
  ~Namespaces() {
    if (!a.empty()) sh("ip netns del " + a);
    if (!b.empty()) sh("ip netns del " + b);
  }
};

TEST(PartyNetns, WorkerAndDataOwnerInTwoNamespacesOverMutualTls) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  Namespaces ns;
  if (!ns.error.empty()) GTEST_SKIP() << ns.error;
  const auto dir = test_dir() / "netns";
  fs::remove_all(dir);
  PartyPki pki(dir, {{"worker", "IP:10.77.0.2,URI:veil://worker/w1"}, {"owner", "DNS:data-owner,URI:veil://data-owner/owner"}});
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  fs::create_directories(dir / "models");
  fs::create_directory_symlink(kSource / "models/veil-austen-tiny", dir / "models/veil-austen-tiny");
  fs::create_directories(dir / "data");
  fs::copy_file(kSource / "data/private/train/clinic_records.jsonl", dir / "data/train.jsonl");
  const std::string tls = "tls-key = \"certs/NAME.key\"\ntls-cert = \"certs/NAME.pem\"\ntls-ca = \"certs/ca.pem\"\n";
  auto tls_for = [&](const std::string& name) { return std::regex_replace(tls, std::regex("NAME"), name); };
  write(dir / "worker.toml", "role = \"worker\"\ndesign = \"plain\"\nmodel = \"models/veil-austen-tiny\"\n"
                             "listen = \"10.77.0.2:7001\"\n" + tls_for("worker"));
  write(dir / "owner.toml", "role = \"data-owner\"\ndesign = \"plain\"\nmodel = \"models/veil-austen-tiny\"\n"
                            "workers = [\"10.77.0.2:7001\"]\n" + tls_for("owner") +
                            "[finetune]\ndata = \"data/train.jsonl\"\nout = \"out\"\nseq-len = 32\nbatch-size = 2\n"
                            "max-steps = 2\nmax-examples = 16\nval-fraction = 0\nquiet = true\n");

  Child worker({"/usr/sbin/ip", "netns", "exec", ns.b, veil_binary().string(), "party", "--config",
                (dir / "worker.toml").string()},
               dir / "worker");
  bool up = false;
  for (int i = 0; i < 1500 && !up; ++i) {
    up = worker.out().find("listening on 10.77.0.2:7001") != std::string::npos;
    if (!up && worker.wait(0ms)) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(up) << worker.out() << worker.err();
  // The worker's address does not exist outside the namespaces.
  EXPECT_NE(sh("ip -o addr | grep -q 10.77.0.2"), 0);

  Child owner({"/usr/sbin/ip", "netns", "exec", ns.a, veil_binary().string(), "party", "--config",
               (dir / "owner.toml").string()},
              dir / "owner");
  const auto status = owner.wait(120s);
  ASSERT_TRUE(status) << "data owner did not finish";
  EXPECT_EQ(*status, 0) << owner.err();
  EXPECT_FALSE(util::read_file(dir / "out/adapter_model.safetensors").empty());
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(30s), std::optional<int>(0)) << worker.err();
  EXPECT_NE(worker.err().find("mutual TLS"), std::string::npos) << worker.err();
}

}  // namespace
}  // namespace veil::party_test
