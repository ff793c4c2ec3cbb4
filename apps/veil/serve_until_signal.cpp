// Serving a party until SIGTERM/SIGINT, shared by the party commands (worker, enclave).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "command.h"
#include "veil/transport/serve.h"

namespace veil::cli {
namespace {

int g_signal_pipe[2] = {-1, -1};

// Async-signal-safe: only writes the signal number to a pipe.
void on_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = write(g_signal_pipe[1], &b, 1);
}

}  // namespace

void serve_until_signal(transport::Server& server, const char* who) {
  if (g_signal_pipe[0] < 0 && pipe(g_signal_pipe) != 0) throw std::runtime_error(std::string(who) + ": cannot create a pipe");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // Any thread may run the handler; this one reads the pipe and shuts the server down gracefully.
  std::thread waiter([&] {
    unsigned char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    std::fprintf(stderr, "%s: %s: finishing calls in flight\n", who, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.shutdown();
  });
  server.wait();
  waiter.join();
}

}  // namespace veil::cli
