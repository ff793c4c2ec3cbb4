// A `veil worker` for 2 of 8 layers holds about its share of the weights, not the checkpoint: its
// peak RSS (VmHWM), less that of a worker that loads no model, stays within 1.3x its layers' float32
// weights + 32 MiB, while a worker for all 8 layers holds at least 90% of the whole. Loading the
// whole checkpoint and slicing it afterwards (as before ModelReader) fails the first bound.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/shared_assets.h"
#include "veil/model/presets.h"
#include "veil/model/random_checkpoint.h"
#include "veil/util/file_io.h"

namespace veil::designs::plain {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Child;

// VmHWM of `pid` in bytes, or -1.
long long peak_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

// Starts `veil worker` with `extra` arguments, waits until it listens (its weights are loaded by
// then), returns its peak RSS and stops it.
long long worker_peak(const fs::path& dir, const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> args = {testing::veil_binary().string(), "worker", "--listen", "127.0.0.1:0", "--insecure",
                                   "--stream-port", "-1"};
  args.insert(args.end(), extra.begin(), extra.end());
  Child w(args, dir / name);
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (w.out().find("listening on") == std::string::npos) {
    if (std::chrono::steady_clock::now() > end || w.wait(0ms).has_value()) {
      ADD_FAILURE() << name << " did not start: " << w.err();
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  const long long peak = peak_rss(w.pid());
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(30s), 0) << w.err();
  return peak;
}

TEST(PlainWorkerMemory, TwoOfEightLayersHoldAboutTheirShare) {
  const fs::path dir = testing::scratch_dir();
  model::ModelConfig cfg = model::tiny_llama();
  cfg.vocab_size = 512;
  cfg.hidden_size = 512;
  cfg.num_heads = 8;
  cfg.num_kv_heads = 4;
  cfg.head_dim = 64;
  cfg.intermediate_size = 2048;
  cfg.num_layers = 8;
  model::RandomCheckpointOptions o;  // bf16 on disk, 63 MB
  (void)model::write_random_weights(dir, cfg, o);
  util::write_file_atomic(dir / "config.json", cfg.to_json().dump());
  const double layer_bytes =
      4.0 * (cfg.hidden_size * cfg.q_dim() * 2 + cfg.hidden_size * cfg.kv_dim() * 2 + 3 * cfg.hidden_size * cfg.intermediate_size);
  const double mib = 1 << 20;

  const long long base = worker_peak(dir, "echo", {"--design", "echo"});
  const long long two = worker_peak(dir, "two", {"--design", "plain", "--model", dir.string(), "--layers", "3:5"});
  const long long all = worker_peak(dir, "all", {"--design", "plain", "--model", dir.string()});
  ASSERT_GT(base, 0);
  ASSERT_GT(two, 0);
  ASSERT_GT(all, 0);
  const double share = 2 * layer_bytes, whole = 8 * layer_bytes;
  std::printf("peak RSS: no model %.1f MiB, layers 3:5 %.1f MiB (+%.1f, share %.1f), all 8 %.1f MiB (+%.1f, whole %.1f)\n",
              base / mib, two / mib, (two - base) / mib, share / mib, all / mib, (all - base) / mib, whole / mib);
  EXPECT_LE(two - base, 1.3 * share + 32 * mib);
  EXPECT_GE(all - base, 0.9 * whole);
  EXPECT_LT(two - base, (all - base) / 2);
  fs::remove_all(dir);  // 63 MB
}

}  // namespace
}  // namespace veil::designs::plain
