// bench_serve: a bounded burst of concurrent completion requests against `veil serve` over
// loopback; reports latency percentiles (p50/p90/p99) of whole requests (streamed or not) and
// tokens/s, then one JSON line. Machines are noisy: the load average is printed beside the numbers.
//
//   bench_serve --veil build/release/bin/veil --model models/veil-austen-tiny [--requests 32]
//               [--concurrency 8] [--max-tokens 32] [--stream] [--max-queue 64]
//   bench_serve --port 8080 --model-name NAME ...      (a server already running; key in VEIL_API_KEY)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string veil, model, model_name, key = "bench-key-0123456789abcdef";
  int port = 0, requests = 32, concurrency = 8, max_tokens = 32, max_queue = 64;
  bool stream = false;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::min<double>(v.size() - 1, std::max(0.0, p / 100.0 * v.size() - 1e-9)));
  return v[i];
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Starts `veil serve --insecure --port 0` and returns its pid; `port` receives the bound port.
pid_t start_server(const Options& o, int& port) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    setenv("VEIL_API_KEY", o.key.c_str(), 1);
    const std::string q = std::to_string(o.max_queue);
    execl(o.veil.c_str(), o.veil.c_str(), "serve", "--model", o.model.c_str(), "--insecure", "--host", "127.0.0.1", "--port", "0",
          "--max-queue", q.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  const std::regex re(R"(listening on http://127\.0\.0\.1:(\d+) )");
  std::smatch m;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    err.append(buf, static_cast<std::size_t>(n));
    if (std::regex_search(err, m, re)) {
      port = std::stoi(m[1]);
      break;
    }
  }
  if (!port) std::fprintf(stderr, "bench_serve: the server did not start:\n%s", err.c_str());
  // Keep draining its stderr so it never blocks on a full pipe.
  std::thread([fd = fds[0]] {
    char b[512];
    while (read(fd, b, sizeof b) > 0) {
    }
    close(fd);
  }).detach();
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_serve: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--veil") o.veil = next();
    else if (a == "--model") o.model = next();
    else if (a == "--model-name") o.model_name = next();
    else if (a == "--port") o.port = std::stoi(next());
    else if (a == "--requests") o.requests = std::stoi(next());
    else if (a == "--concurrency") o.concurrency = std::stoi(next());
    else if (a == "--max-tokens") o.max_tokens = std::stoi(next());
    else if (a == "--max-queue") o.max_queue = std::stoi(next());
    else if (a == "--stream") o.stream = true;
    else {
      std::fprintf(stderr, "bench_serve: unknown argument %s (see the comment at the top of bench_serve.cpp)\n", a.c_str());
      return 2;
    }
  }
  if (o.requests < 1 || o.requests > 10000 || o.concurrency < 1 || o.concurrency > 256) {
    std::fprintf(stderr, "bench_serve: --requests must be 1..10000 and --concurrency 1..256\n");
    return 2;
  }
  pid_t server = -1;
  if (o.port == 0) {
    if (o.veil.empty() || o.model.empty()) {
      std::fprintf(stderr, "bench_serve: give --veil and --model (or --port of a running server)\n");
      return 2;
    }
    server = start_server(o, o.port);
    if (!o.port) return 1;
  } else if (const char* k = std::getenv("VEIL_API_KEY")) {
    o.key = k;
  }
  if (o.model_name.empty()) o.model_name = std::filesystem::path(o.model).lexically_normal().filename().string();

  std::mutex mu;
  std::vector<double> latency, first_token;
  std::int64_t tokens = 0;
  int ok = 0, busy = 0, failed = 0;
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.concurrency; ++c)
    threads.emplace_back([&] {
      while (true) {
        httplib::Client cli("127.0.0.1", o.port);  // a connection per request, as independent clients
        cli.set_read_timeout(300, 0);
        cli.set_bearer_token_auth(o.key.c_str());
        const int i = next++;
        if (i >= o.requests) return;
        const json body = {{"model", o.model_name}, {"prompt", "It is a truth universally acknowledged " + std::to_string(i)},
                           {"max_tokens", o.max_tokens}, {"temperature", 0}, {"stream", o.stream},
                           {"stream_options", {{"include_usage", true}}}};
        const auto start = Clock::now();
        httplib::Result r = cli.Post("/v1/completions", body.dump(), "application/json");
        const double s = std::chrono::duration<double>(Clock::now() - start).count();
        std::lock_guard lock(mu);
        if (!r) {
          if (failed++ < 3) std::fprintf(stderr, "bench_serve: request failed: %s\n", httplib::to_string(r.error()).c_str());
          continue;
        }
        if (r->status == 429) {
          ++busy;
          continue;
        }
        if (r->status != 200) {
          if (failed++ < 3) std::fprintf(stderr, "bench_serve: HTTP %d: %s\n", r->status, r->body.substr(0, 200).c_str());
          continue;
        }
        ++ok;
        latency.push_back(s);
        std::int64_t n = 0;
        if (o.stream) {  // the include_usage chunk
          const auto pos = r->body.find("\"completion_tokens\":");
          if (pos != std::string::npos) n = std::atoll(r->body.c_str() + pos + 20);
        } else {
          const auto j = json::parse(r->body, nullptr, false);
          if (j.is_object() && j.contains("usage")) n = j["usage"]["completion_tokens"].get<std::int64_t>();
        }
        tokens += n;
      }
    });
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  if (server > 0) {
    kill(server, SIGTERM);
    waitpid(server, nullptr, 0);
  }
  const json out = {{"bench", "serve"},
                    {"requests", o.requests},
                    {"concurrency", o.concurrency},
                    {"max_tokens", o.max_tokens},
                    {"stream", o.stream},
                    {"ok", ok},
                    {"rejected_429", busy},
                    {"failed", failed},
                    {"p50_s", percentile(latency, 50)},
                    {"p90_s", percentile(latency, 90)},
                    {"p99_s", percentile(latency, 99)},
                    {"completion_tokens", tokens},
                    {"tokens_per_s", wall > 0 ? tokens / wall : 0},
                    {"wall_s", wall},
                    {"loadavg", loadavg()},
                    {"hardware_threads", std::thread::hardware_concurrency()}};
  std::printf("serve: %d requests, concurrency %d, %d ok, %d x 429, %d failed; latency p50 %.3f s, p90 %.3f s, p99 %.3f s; %.1f tokens/s "
              "(load average %s)\n",
              o.requests, o.concurrency, ok, busy, failed, out["p50_s"].get<double>(), out["p90_s"].get<double>(),
              out["p99_s"].get<double>(), out["tokens_per_s"].get<double>(), loadavg().c_str());
  std::printf("%s\n", out.dump().c_str());
  return failed == 0 ? 0 : 1;
}
