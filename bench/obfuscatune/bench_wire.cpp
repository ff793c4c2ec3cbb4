// Per-call latency of the gRPC transport against payload size: what one obfuscatune worker call
// costs on the wire, without the product. Talks to `veil worker --design echo` (another process),
// which replies with the tensor it was sent, so every call moves the payload both ways.
//
//   veil worker --design echo --listen 127.0.0.1:17412 --tls-cert server.pem --tls-key server.key --tls-ca ca.pem &
//   bench_wire --workers localhost:17412 --tls-cert client.pem --tls-key client.key --tls-ca ca.pem
//              [--sizes-kb 4,64,786,2359,3146] [--reps 20] [--peer-pid PID]
//
// Prints, per size, the median and minimum milliseconds per call, the payload rate (both ways
// over the median) and the CPU time per call of this process (and of the worker, with
// --peer-pid: read from /proc/PID/stat), which a loaded machine disturbs less than wall time; ends
// with one JSON line.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "veil/transport/connect.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos <= s.size();) {
    const auto comma = s.find(',', pos);
    const auto end = comma == std::string::npos ? s.size() : comma;
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// CPU seconds (user + system) of this process, or of process `pid` from /proc (0 when unreadable).
double cpu_seconds(int pid) {
  if (pid <= 0) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15: utime, stime in clock ticks
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string address;
    veil::transport::ConnectOptions co;
    std::vector<double> sizes_kb = {4, 64, 786, 2359, 3146};
    int reps = 20, peer_pid = 0;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--workers") address = next();
      else if (a == "--tls-cert") co.tls.cert = next();
      else if (a == "--tls-key") co.tls.key = next();
      else if (a == "--tls-ca") co.tls.ca = next();
      else if (a == "--insecure") co.tls.insecure = true;
      else if (a == "--reps") reps = std::stoi(next());
      else if (a == "--peer-pid") peer_pid = std::stoi(next());
      else if (a == "--sizes-kb") {
        sizes_kb.clear();
        for (const auto& s : split_commas(next())) sizes_kb.push_back(std::stod(s));
      } else throw std::invalid_argument("unknown argument " + a);
    }
    if (address.empty()) throw std::invalid_argument("--workers HOST:PORT is required (a `veil worker --design echo`)");
    if (reps < 1) throw std::invalid_argument("--reps must be positive");
    auto ep = veil::transport::connect(address, co);
    nlohmann::json rows = nlohmann::json::array();
    for (double kb : sizes_kb) {
      const auto n = std::max<std::int64_t>(1, static_cast<std::int64_t>(kb * 1000 / 4));
      at::Tensor x = at::randn({n});
      std::vector<double> ms;
      double cpu0 = 0, peer0 = 0;
      for (int r = 0; r <= reps; ++r) {  // call 0 warms the connection up and is discarded
        if (r == 1) cpu0 = cpu_seconds(0), peer0 = peer_pid > 0 ? cpu_seconds(peer_pid) : 0;
        veil::transport::Message q;
        q.op = "echo.echo";
        q.tensors["x"] = x;
        const auto t0 = Clock::now();
        auto reply = ep->call(std::move(q));
        const double t = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!reply.tensor("x").equal(x)) throw std::runtime_error("echo returned other bytes");
        if (r > 0) ms.push_back(t);
      }
      const double cpu_ms = (cpu_seconds(0) - cpu0) * 1000 / reps;
      const double peer_ms = peer_pid > 0 ? (cpu_seconds(peer_pid) - peer0) * 1000 / reps : 0;
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2], best = ms.front();
      const double mb = n * 4 / 1e6;
      std::printf("payload %9.1f KB  median %8.3f ms  min %8.3f ms  %7.0f MB/s (both ways, median)  cpu/call: here %.2f ms, worker %.2f ms\n",
                  mb * 1000, med, best, 2 * mb / (med / 1000), cpu_ms, peer_ms);
      rows.push_back({{"payload_bytes", n * 4}, {"median_ms", med}, {"min_ms", best}, {"cpu_ms", cpu_ms}, {"peer_cpu_ms", peer_ms}});
    }
    std::cout << nlohmann::json{{"bench", "wire"}, {"peer", address}, {"tls", !co.tls.insecure}, {"reps", reps}, {"calls", rows}}
              << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_wire: %s\n", e.what());
    return 1;
  }
}
