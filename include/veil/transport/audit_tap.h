// What a party received and sent, message by message: the evidence that the evaluation and the
// security tests read ("what the untrusted side saw, byte for byte").
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "veil/transport/message.h"

namespace veil::transport {

enum class Direction { kReceived, kSent };

struct TapEntry {
  std::string party;       // the party that holds the tap
  Direction direction;
  Message message;         // as decoded by the party (tensors are its own copies)
  std::size_t wire_bytes;  // encoded size
};

class AuditTap {
 public:
  virtual ~AuditTap() = default;
  virtual void record(const std::string& party, Direction direction, const Message& message, std::size_t wire_bytes);
  // Everything recorded so far (in memory taps; a directory tap, audit_dir.h, reads them back from disk).
  [[nodiscard]] virtual std::vector<TapEntry> entries() const;
  [[nodiscard]] virtual std::size_t size() const;
  void clear();

 protected:
  mutable std::mutex mu_;
  std::vector<TapEntry> entries_;
};

}  // namespace veil::transport
