#include "veil/transport/audit_tap.h"

namespace veil::transport {

void AuditTap::record(const std::string& party, Direction direction, const Message& message, std::size_t wire_bytes) {
  std::lock_guard lock(mu_);
  entries_.push_back({party, direction, message, wire_bytes});
}

std::vector<TapEntry> AuditTap::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}

std::size_t AuditTap::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void AuditTap::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

}  // namespace veil::transport
