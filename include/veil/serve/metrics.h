// Prometheus text-format metrics of `veil serve` (GET /metrics): requests by endpoint and status,
// tokens generated, queue depth, a request latency histogram and resident memory.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace veil::serve {

class Metrics {
 public:
  static constexpr std::array<double, 10> kBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};  // seconds

  void observe(const std::string& endpoint, int status, double seconds);
  void add_tokens(std::int64_t prompt, std::int64_t completion);
  // The exposition text; queue figures are read by the caller at scrape time.
  [[nodiscard]] std::string render(std::size_t queue_waiting, bool generating, bool draining) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::array<std::uint64_t, kBuckets.size()> bucket_counts_{};
  std::uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  std::uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
};

// This process's resident set size in bytes (/proc/self/statm), 0 when unknown.
[[nodiscard]] std::uint64_t resident_bytes();

}  // namespace veil::serve
