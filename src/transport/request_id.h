// The request ids a client endpoint gives calls that have none ("<prefix>-<n>"): a random prefix
// per endpoint, so that two endpoints to one peer never reuse an id (the peer applies a repeated
// id once). Shared by the gRPC and the TLS stream endpoints; internal to the transport.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace veil::transport {

inline std::string random_request_prefix() {
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

}  // namespace veil::transport
