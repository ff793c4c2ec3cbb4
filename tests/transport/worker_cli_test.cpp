// `veil worker` as a child process: it starts, prints its address, serves worker.info and the
// diagnostic echo design over mutual TLS, refuses bad flags clearly, and exits 0 on SIGTERM after
// finishing the call in flight.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <ATen/ATen.h>

#include "transport/tls_support.h"
#include "veil/transport/connect.h"
#include "veil/transport/errors.h"

extern char** environ;

namespace veil::transport {
namespace {

// $VEIL_BINARY_DIR/bin/veil; else bin/veil of the build tree this test binary lives in
// (build/X/tests/transport/transport_test → build/X/bin/veil): ctest drops the second variable of
// veil_test's ENVIRONMENT property with CMake 3.25's gtest_discover_tests.
std::string veil_binary() {
  if (const char* dir = std::getenv("VEIL_BINARY_DIR"); dir && std::filesystem::exists(std::string(dir) + "/bin/veil"))
    return std::string(dir) + "/bin/veil";
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto candidate = self.parent_path().parent_path().parent_path() / "bin" / "veil";
  return std::filesystem::exists(candidate) ? candidate.string() : "";
}

// A child process with its stdout and stderr on pipes.
struct Child {
  pid_t pid = -1;
  int out = -1, err = -1;
  std::string out_text, err_text;

  explicit Child(const std::vector<std::string>& args) {
    int o[2], e[2];
    if (pipe(o) != 0 || pipe(e) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    posix_spawn_file_actions_addclose(&fa, o[0]);
    posix_spawn_file_actions_addclose(&fa, e[0]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    close(e[1]);
    out = o[0];
    err = e[0];
    fcntl(out, F_SETFL, O_NONBLOCK);
    fcntl(err, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    if (pid > 0 && !exited_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out >= 0) close(out);
    if (err >= 0) close(err);
  }
  void drain() {
    char buf[4096];
    ssize_t n;
    while ((n = read(out, buf, sizeof buf)) > 0) out_text.append(buf, n);
    while ((n = read(err, buf, sizeof buf)) > 0) err_text.append(buf, n);
  }
  // The address after "listening on ", or "" when it does not come within `timeout`.
  std::string wait_for_address(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    const std::string key = "veil worker: listening on ";
    while (std::chrono::steady_clock::now() < end) {
      pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
      poll(fds, 2, 100);
      drain();
      if (auto p = out_text.find(key); p != std::string::npos) {
        auto nl = out_text.find('\n', p);
        if (nl != std::string::npos) return out_text.substr(p + key.size(), nl - p - key.size());
      }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited_ = true;
        exit_status_ = status;
        drain();
        return "";
      }
    }
    return "";
  }
  // The exit code, or -1 when it does not exit within `timeout` (then it is killed).
  int wait_exit(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!exited_ && std::chrono::steady_clock::now() < end) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited_ = true;
        exit_status_ = status;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      drain();
    }
    if (!exited_) return -1;
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : 128 + WTERMSIG(exit_status_);
  }

 private:
  bool exited_ = false;
  int exit_status_ = 0;
};

#define REQUIRE_VEIL_BINARY()                                                          \
  if (veil_binary().empty() || !std::filesystem::exists(veil_binary()))                \
  GTEST_SKIP() << "the veil binary is not built (VEIL_BINARY_DIR/bin/veil); build veil_cli"

TEST(WorkerCli, ServesOverMutualTlsAndExitsZeroOnSigterm) {
  REQUIRE_VEIL_BINARY();
  auto pki = testing::TestPki::make("veil_worker_cli");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  const auto audit = pki.dir / "audit";
  Child w({veil_binary(), "worker", "--design", "echo", "--layers", "2:5", "--listen", "127.0.0.1:0", "--tls-cert",
           pki.server_cert.string(), "--tls-key", pki.server_key.string(), "--tls-ca", pki.ca.string(), "--audit-dir",
           audit.string(), "--audit-full", "--party", "worker-7"});
  const std::string address = w.wait_for_address(std::chrono::seconds(60));
  ASSERT_FALSE(address.empty()) << "worker did not start: " << w.err_text;

  ConnectOptions co;
  co.tls = {pki.client_cert, pki.client_key, pki.ca, false};
  co.deadline = std::chrono::seconds(10);
  co.tls_server_name = "localhost";  // the certificate's DNS name (gRPC does not match IP names)
  auto ep = connect(address, co);
  Message info;
  info.op = "worker.info";
  const auto r = ep->call(info);
  EXPECT_EQ(r.ints, (std::vector<std::int32_t>{2, 5}));
  EXPECT_EQ(r.meta.at("design"), "echo");

  // SIGTERM while a call is in flight: the call completes, then the worker exits 0.
  Message slow;
  slow.op = "echo.echo";
  slow.ints = {600};
  slow.tensors["h"] = at::randn({64, 64});
  Message echoed;
  std::string call_error;
  std::thread caller([&] {
    try {
      echoed = ep->call(slow);
    } catch (const std::exception& e) {
      call_error = e.what();
    }
  });
  // Wait until the worker has the call (its audit tap shows it), then SIGTERM.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto has_call = [&] {
    std::ifstream index(audit / "index.jsonl");
    std::string all((std::istreambuf_iterator<char>(index)), std::istreambuf_iterator<char>());
    return all.find("\"echo.echo\"") != std::string::npos;
  };
  while (!has_call() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(w.pid, SIGTERM);
  caller.join();
  ASSERT_TRUE(call_error.empty()) << call_error;
  EXPECT_TRUE(at::equal(echoed.tensor("h"), slow.tensors["h"]));
  EXPECT_EQ(w.wait_exit(std::chrono::seconds(20)), 0) << w.err_text;
  EXPECT_NE(w.err_text.find("SIGTERM"), std::string::npos) << w.err_text;
  EXPECT_NE(w.err_text.find("stopped after 2 calls"), std::string::npos) << w.err_text;
  EXPECT_TRUE(std::filesystem::exists(audit / "index.jsonl"));
}

TEST(WorkerCli, BadFlagsAreOneClearErrorAndNonZeroExit) {
  REQUIRE_VEIL_BINARY();
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--design", "echo", "--listen", "0.0.0.0:0", "--insecure"}, "loopback"},
      {{"--design", "echo", "--listen", "127.0.0.1"}, "has no port"},
      {{"--design", "echo", "--listen", "127.0.0.1:0"}, "--tls-ca"},
      {{"--design", "echo", "--listen", "127.0.0.1:0", "--insecure", "--layers", "5:2"}, "--layers"},
      {{"--design", "echo", "--listen", "127.0.0.1:0", "--insecure", "--stream-port", "70000"}, "--stream-port"},
      {{"--design", "nope", "--listen", "127.0.0.1:0", "--insecure"}, "no worker"},
      {{"--design", "echo", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/x", "--tls-ca",
        "/y"},
       "cannot be read"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {veil_binary(), "worker"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Child w(args);
    const int code = w.wait_exit(std::chrono::seconds(30));
    EXPECT_NE(code, 0) << c.expect;
    EXPECT_NE(code, -1) << c.expect << ": hung";
    EXPECT_NE(w.err_text.find(c.expect), std::string::npos) << c.expect << " not in: " << w.err_text;
  }
}

// --allow-peer: a data owner of the same CA that is not on the list is refused for every op, over
// gRPC, before anything runs; the pinned data owner gets through. A malformed entry is one error.
TEST(WorkerCli, AllowPeerRefusesEveryOtherDataOwner) {
  REQUIRE_VEIL_BINARY();
  auto pki = testing::TestPki::make("veil_worker_cli_allow");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  Child w({veil_binary(), "worker", "--design", "echo", "--listen", "127.0.0.1:0", "--stream-port", "-1", "--tls-cert",
           pki.server_cert.string(), "--tls-key", pki.server_key.string(), "--tls-ca", pki.ca.string(), "--allow-peer",
           "veil://data-owner/other"});
  const std::string address = w.wait_for_address(std::chrono::seconds(60));
  ASSERT_FALSE(address.empty()) << "worker did not start: " << w.err_text;
  auto endpoint = [&](const std::filesystem::path& cert, const std::filesystem::path& key) {
    ConnectOptions co;
    co.tls = {cert, key, pki.ca, false};
    co.deadline = std::chrono::seconds(10);
    co.tls_server_name = "localhost";
    return connect(address, co);
  };
  auto intruder = endpoint(pki.client_cert, pki.client_key);  // veil://data-owner/test
  for (const std::string op : {"worker.info", "echo.echo"}) {
    Message m;
    m.op = op;
    m.tensors["h"] = at::ones({4});
    try {
      (void)intruder->call(m);
      ADD_FAILURE() << op << " admitted a data owner not on --allow-peer";
    } catch (const TransportError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied) << e.what();
      EXPECT_NE(std::string(e.what()).find("not an admitted peer"), std::string::npos) << e.what();
    }
  }
  Message info;
  info.op = "worker.info";
  EXPECT_EQ(endpoint(pki.data_owner2_cert, pki.data_owner2_key)->call(info).meta.at("design"), "echo");
  kill(w.pid, SIGTERM);
  EXPECT_EQ(w.wait_exit(std::chrono::seconds(20)), 0) << w.err_text;

  Child bad({veil_binary(), "worker", "--design", "echo", "--listen", "127.0.0.1:0", "--insecure", "--allow-peer",
             "data-owner/other"});
  EXPECT_NE(bad.wait_exit(std::chrono::seconds(30)), 0);
  EXPECT_NE(bad.err_text.find("not a veil identity"), std::string::npos) << bad.err_text;
}

TEST(WorkerCli, InsecureOnLoopbackWarnsLoudly) {
  REQUIRE_VEIL_BINARY();
  Child w({veil_binary(), "worker", "--design", "echo", "--listen", "127.0.0.1:0", "--insecure"});
  const std::string address = w.wait_for_address(std::chrono::seconds(60));
  ASSERT_FALSE(address.empty()) << w.err_text;
  EXPECT_NE(w.err_text.find("WARNING"), std::string::npos) << w.err_text;
  ConnectOptions co;
  co.tls.insecure = true;
  co.deadline = std::chrono::seconds(10);
  const auto h = check_health(address, co);
  EXPECT_TRUE(h.serving);
  kill(w.pid, SIGINT);
  EXPECT_EQ(w.wait_exit(std::chrono::seconds(20)), 0);
}

}  // namespace
}  // namespace veil::transport
