// What a party's audit tap holds, at a glance: per operation and direction, how many messages,
// how many bytes, which tensors (dtype and shape) and how many opaque blobs. `veil audit DIR`
// prints it; the demo puts it beside what the data owner sent.
//
// Reads only DIR/index.jsonl (veil/transport/audit_dir.h), so it works on taps that kept hashes
// only, and on a tap whose party is still running or was killed mid-write (a trailing partial
// line is ignored, as the tap's own reader does).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veil::transport {

struct AuditOpSummary {
  std::string op;
  std::string direction;                // "received" or "sent"
  std::uint64_t messages = 0;
  std::uint64_t wire_bytes = 0;
  std::set<std::string> tensors;        // "name dtype [d0,d1,...]", distinct, at most kMaxShapes
  std::uint64_t tensor_count = 0;       // tensors over all messages
  std::uint64_t blob_count = 0, blob_bytes = 0;
};

struct AuditSummary {
  std::filesystem::path dir;
  std::string party;                            // the tap's holder ("worker-0", ...)
  std::uint64_t messages = 0, kept = 0;         // indexed; of those, with their bytes on disk
  std::uint64_t received_bytes = 0, sent_bytes = 0;
  std::uint64_t received_tensors = 0;           // tensors in received messages (readable numbers)
  std::uint64_t received_blobs = 0;             // opaque blobs in received messages (ciphertexts, sealed data)
  std::vector<AuditOpSummary> ops;              // in order of first appearance
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] std::string to_text() const;    // a table, one line per (op, direction)
};

inline constexpr std::size_t kMaxShapes = 6;

// Throws std::runtime_error when DIR/index.jsonl cannot be read, std::invalid_argument naming the
// line when a complete line is not an index entry.
[[nodiscard]] AuditSummary summarize_audit(const std::filesystem::path& dir);

}  // namespace veil::transport
