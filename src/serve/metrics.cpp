#include "veil/serve/metrics.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace veil::serve {

void Metrics::observe(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  ++latency_count_;
  latency_sum_ += seconds;
}

void Metrics::add_tokens(std::int64_t prompt, std::int64_t completion) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += static_cast<std::uint64_t>(prompt);
  completion_tokens_ += static_cast<std::uint64_t>(completion);
}

std::string Metrics::render(std::size_t queue_waiting, bool generating, bool draining) const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  o << "# HELP veil_serve_requests_total HTTP requests by endpoint and status.\n# TYPE veil_serve_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    o << "veil_serve_requests_total{endpoint=\"" << k.first << "\",status=\"" << k.second << "\"} " << n << "\n";
  o << "# HELP veil_serve_request_duration_seconds Time from a request's arrival to its last byte.\n"
       "# TYPE veil_serve_request_duration_seconds histogram\n";
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    o << "veil_serve_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << bucket_counts_[i] << "\n";
  o << "veil_serve_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
    << "veil_serve_request_duration_seconds_sum " << latency_sum_ << "\n"
    << "veil_serve_request_duration_seconds_count " << latency_count_ << "\n";
  o << "# HELP veil_serve_tokens_total Tokens processed, by kind.\n# TYPE veil_serve_tokens_total counter\n"
    << "veil_serve_tokens_total{kind=\"prompt\"} " << prompt_tokens_ << "\n"
    << "veil_serve_tokens_total{kind=\"completion\"} " << completion_tokens_ << "\n";
  o << "# HELP veil_serve_queue_depth Requests admitted and waiting for the generation thread.\n# TYPE veil_serve_queue_depth gauge\n"
    << "veil_serve_queue_depth " << queue_waiting << "\n";
  o << "# HELP veil_serve_generating Whether a request is generating now.\n# TYPE veil_serve_generating gauge\n"
    << "veil_serve_generating " << (generating ? 1 : 0) << "\n";
  o << "# HELP veil_serve_draining Whether the server is draining (SIGTERM).\n# TYPE veil_serve_draining gauge\n"
    << "veil_serve_draining " << (draining ? 1 : 0) << "\n";
  o << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
    << "process_resident_memory_bytes " << resident_bytes() << "\n";
  return o.str();
}

std::uint64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace veil::serve
