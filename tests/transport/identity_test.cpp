// Identities (veil/transport/identity.h), the reply cache keyed by caller, the --insecure loopback
// rule on resolved addresses, and the certificate tooling: `veil ca init` and `veil cert issue`
// make certificates the transport accepts, with private keys of mode 0600, and refuse bad input
// with one clear line.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <ATen/ATen.h>

#include "transport/tls_files.h"
#include "veil/transport/connect.h"
#include "veil/transport/in_process.h"
#include "veil/transport/pki.h"
#include "veil/transport/serve.h"
#include "veil/transport/service.h"
#include "veil/util/file_io.h"

namespace veil::transport {
namespace {
namespace fs = std::filesystem;

TEST(Identity, UrisParseToRolesAndBadOnesCarryNone) {
  auto p = peer_from_uri("veil://model-owner/acme");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind(), Peer::Kind::kIdentified);
  EXPECT_EQ(p->role(), Role::kModelOwner);
  EXPECT_EQ(p->to_string(), "model-owner/acme");
  EXPECT_FALSE(peer_from_uri("https://example.com/x"));
  for (const char* bad : {"veil://root/x", "veil://worker", "veil://worker/", "veil://worker/a/b", "veil://worker/.x",
                          "veil://Worker/x", "veil://worker/x y"}) {
    auto q = peer_from_uri(bad);
    ASSERT_TRUE(q) << bad;
    EXPECT_EQ(q->kind(), Peer::Kind::kWithoutIdentity) << bad;
    EXPECT_FALSE(q->admitted_by(Roles{Role::kModelOwner, Role::kDataOwner, Role::kWorker, Role::kEnclave})) << bad;
  }
  EXPECT_EQ(identity_uri(Role::kDataOwner, "clinic-7"), "veil://data-owner/clinic-7");
  EXPECT_THROW((void)identity_uri(Role::kDataOwner, "a/b"), std::invalid_argument);
  EXPECT_TRUE(Peer::unauthenticated().admitted_by(Roles{Role::kEnclave}));
  EXPECT_EQ((Roles{Role::kModelOwner, Role::kDataOwner}).to_string(), "model-owner or data-owner");
}

TEST(Identity, InProcessCallerOutsideTheRolesIsRefusedBeforeTheHandler) {
  auto svc = std::make_shared<Service>("enclave");
  int calls = 0;
  svc->on("enclave.seal_model", Roles{Role::kModelOwner}, [&](const Message& m) {
    ++calls;
    return m;
  });
  Message q;
  q.op = "enclave.seal_model";
  try {
    (void)connect_in_process(svc, Peer::identified(Role::kWorker, "w1"))->call(q);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    EXPECT_STREQ(e.what(),
                 "in-process:enclave: enclave.seal_model: permission denied: enclave: enclave.seal_model admits model-owner, "
                 "not worker/w1");
  }
  EXPECT_EQ(calls, 0);
  (void)connect_in_process(svc, Peer::identified(Role::kModelOwner, "acme"))->call(q);
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(svc->on("x.y", Roles{}, [](const Message& m) { return m; }), std::logic_error);
}

// One peer reusing another's request id must not get the other's reply: the cache is keyed by
// (peer, op, request id). A naive cache by request id hands the data owner's reply to the worker.
TEST(ReplyCache, IsKeyedByPeerOpAndRequestId) {
  auto svc = std::make_shared<Service>("enclave");
  int calls = 0;
  for (const char* op : {"test.secret", "test.other"})
    svc->on(op, Roles{Role::kDataOwner, Role::kWorker}, [&calls](const Message& q) {
      ++calls;
      Message r;
      r.meta["for"] = q.meta.at("who");
      return r;
    });
  Message q;
  q.op = "test.secret";
  q.request_id = "r-1";
  q.meta["who"] = "owner";
  auto owner = connect_in_process(svc, Peer::identified(Role::kDataOwner, "clinic"));
  EXPECT_EQ(owner->call(q).meta.at("for"), "owner");
  EXPECT_EQ(owner->call(q).meta.at("for"), "owner");  // a retry: applied once
  EXPECT_EQ(calls, 1);
  q.meta["who"] = "thief";
  auto thief = connect_in_process(svc, Peer::identified(Role::kWorker, "w"));
  EXPECT_EQ(thief->call(q).meta.at("for"), "thief");
  EXPECT_EQ(calls, 2);
  // Another data owner with the same id, and the same peer with the same id on another op.
  auto other = connect_in_process(svc, Peer::identified(Role::kDataOwner, "other"));
  EXPECT_EQ(other->call(q).meta.at("for"), "thief");
  EXPECT_EQ(calls, 3);
  q.op = "test.other";
  (void)owner->call(q);
  EXPECT_EQ(calls, 4);
}

TEST(ReplyCache, StaysWithinItsByteBudget) {
  auto svc = std::make_shared<Service>("worker-0");
  int calls = 0;
  svc->on("test.big", kWorkerCallers, [&calls](const Message& q) {
    ++calls;
    Message r;
    r.tensors["y"] = at::zeros({q.ints.at(0)}, at::kByte);
    return r;
  });
  svc->set_reply_cache_limits(64, 1 << 20);  // 1 MiB
  auto ep = connect_in_process(svc, Peer::identified(Role::kDataOwner, "d"));
  const auto call = [&](const std::string& id, int bytes) {
    Message q;
    q.op = "test.big";
    q.request_id = id;
    q.ints = {bytes};
    (void)ep->call(q);
  };
  call("huge", 2 << 20);  // over the budget: not remembered
  call("huge", 2 << 20);
  EXPECT_EQ(calls, 2);
  call("a", 600 << 10);
  call("a", 600 << 10);
  EXPECT_EQ(calls, 3);     // remembered
  call("b", 600 << 10);    // together over 1 MiB: "a" is dropped
  call("b", 600 << 10);
  EXPECT_EQ(calls, 4);
  call("a", 600 << 10);
  EXPECT_EQ(calls, 5);
}

// --insecure is allowed where the host RESOLVES to loopback only (getaddrinfo reads "0127.0.0.1"
// as octal, 87.0.0.1; sscanf("%d") read it as 127).
TEST(Loopback, HostsBehaveAsTheirResolvedAddress) {
  for (const char* yes : {"127.0.0.1", "127.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"})
    EXPECT_TRUE(is_loopback_host(yes)) << yes;
  for (const char* no : {"0127.0.0.1", "87.0.0.1", "0.0.0.0", "10.0.0.1", "::", "::ffff:10.0.0.1", "128.0.0.1", ""})
    EXPECT_FALSE(is_loopback_host(no)) << no;
  ServeOptions so;
  so.tls.insecure = true;
  so.address = "0127.0.0.1:0";
  try {
    (void)Server::start(std::make_shared<Service>("w"), so);
    FAIL() << "--insecure served on 0127.0.0.1 (87.0.0.1)";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("loopback"), std::string::npos) << e.what();
  }
  ConnectOptions co;
  co.tls.insecure = true;
  EXPECT_THROW((void)connect("0127.0.0.1:7000", co), std::invalid_argument);
  EXPECT_THROW(tls_files::check_insecure("[0127.0.0.1]:7000", "server"), std::invalid_argument);
  for (const char* ok : {"127.1:7000", "[::ffff:127.0.0.1]:7000", "[::1]:7000", "localhost:7000"})
    EXPECT_NO_THROW(tls_files::check_insecure(ok, "server")) << ok;
}

// $VEIL_BINARY_DIR/bin/veil, else bin/veil of this build tree (as worker_cli_test finds it).
std::string veil_binary() {
  if (const char* dir = std::getenv("VEIL_BINARY_DIR"); dir && fs::exists(std::string(dir) + "/bin/veil"))
    return std::string(dir) + "/bin/veil";
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto candidate = self.parent_path().parent_path().parent_path() / "bin" / "veil";
  return fs::exists(candidate) ? candidate.string() : "";
}

struct CliResult {
  int status;
  std::string output;
};
CliResult run(const std::string& args) {
  CliResult r{-1, ""};
  FILE* p = popen((veil_binary() + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

fs::perms mode(const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; }

TEST(CertTool, CaInitAndCertIssueMakeCertificatesTheTransportAccepts) {
  if (veil_binary().empty()) GTEST_SKIP() << "no veil binary (set VEIL_BINARY_DIR)";
  const fs::path dir = fs::temp_directory_path() / ("veil_cert_tool_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string d = dir.string();
  const auto ok = [](const CliResult& r) {
    EXPECT_EQ(r.status, 0) << r.output;
    return r;
  };
  ok(run("ca init --out " + d + "/ca"));
  EXPECT_NE(ok(run("cert issue --ca " + d + "/ca --role worker --name w1 --dns localhost --ip 127.0.0.1 --out " + d + "/w1"))
                .output.find("veil://worker/w1"),
            std::string::npos);
  ok(run("cert issue --ca " + d + "/ca --role data-owner --name clinic --out " + d + "/owner --days 30"));
  ok(run("cert issue --ca " + d + "/ca --role model-owner --name acme --out " + d + "/acme"));
  for (const char* key : {"ca/ca.key", "w1/key.pem", "owner/key.pem", "acme/key.pem"})
    EXPECT_EQ(mode(dir / key), fs::perms::owner_read | fs::perms::owner_write) << key;

  // The worker serves with its files; the data owner is admitted, the model owner is not.
  auto svc = std::make_shared<Service>("worker-0");
  svc->on("test.echo", kWorkerCallers, [](const Message& m) { return m; });
  ServeOptions so;
  so.tls = {dir / "w1/cert.pem", dir / "w1/key.pem", dir / "w1/ca.pem", false};
  auto server = Server::start(svc, so);
  for (bool stream : {false, true}) {
    ConnectOptions co;
    co.stream = stream;
    co.retries = 0;
    co.tls = {dir / "owner/cert.pem", dir / "owner/key.pem", dir / "owner/ca.pem", false};
    Message m;
    m.op = "test.echo";
    m.meta["k"] = "v";
    const std::string address = "localhost:" + std::to_string(server->port());
    EXPECT_EQ(connect(address, co)->call(m).meta.at("k"), "v");
    co.tls = {dir / "acme/cert.pem", dir / "acme/key.pem", dir / "acme/ca.pem", false};
    try {
      (void)connect(address, co)->call(m);
      ADD_FAILURE() << "the model owner was admitted by a worker";
    } catch (const TransportError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied) << e.what();
      EXPECT_NE(std::string(e.what()).find("model-owner/acme"), std::string::npos) << e.what();
    }
  }
  server.reset();

  // Bad input: one clear line, a non-zero exit, nothing overwritten (the CLI for a few, the same
  // code through the library for the rest: each `veil` start loads libtorch).
  const std::string ca = " --ca " + d + "/ca";
  const std::pair<std::string, std::string> bad[] = {
      {"ca init --out " + d + "/ca", "already exists"},
      {"cert issue" + ca + " --role admin --name x --out " + d + "/x", "--role 'admin' is not a role"},
      {"cert issue" + ca + " --role worker --name x --ip 300.1.1.1 --out " + d + "/x", "--ip '300.1.1.1'"},
      {"cert issue" + ca + " --role worker --name again --out " + d + "/w1", "already exists"},
  };
  const auto issue = [&](const std::string& ca_dir, const std::string& name, std::vector<std::string> dns, int days) {
    pki::CertRequest r;
    r.role = Role::kWorker;
    r.name = name;
    r.dns = std::move(dns);
    r.days = days;
    (void)pki::issue_certificate(dir / ca_dir, r, dir / "x");
  };
  const std::pair<std::function<void()>, std::string> bad_calls[] = {
      {[&] { issue("ca", "a b", {}, 1); }, "--name 'a b' is not valid"},
      {[&] { issue("ca", "x", {"a,b"}, 1); }, "--dns 'a,b'"},
      {[&] { issue("ca", "x", {}, 0); }, "--days 0"},
      {[&] { issue("ca", "x", {}, 36500); }, "outlive the CA"},
      {[&] { issue("nope", "x", {}, 1); }, "cannot be read"},
      {[&] { issue("owner", "x", {}, 1); }, "cannot be read"},
  };
  for (const auto& [call, want] : bad_calls) {
    try {
      call();
      ADD_FAILURE() << "accepted; expected: " << want;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  const std::string ca_before = util::read_file(dir / "ca/ca.key");
  for (const auto& [args, want] : bad) {
    const CliResult r = run(args);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_NE(r.output.find(want), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_EQ(util::read_file(dir / "ca/ca.key"), ca_before);
  EXPECT_FALSE(fs::exists(dir / "x"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veil::transport
