// A sealed stream (tee::SealedStream) as the blobs of one message: blob "header", blobs
// "chunk.<i>", ints {number of chunks}. The enclave's finetune and generate requests and replies
// travel this way.
#pragma once

#include <string>

#include "veil/tee/sealing.h"
#include "veil/transport/message.h"

namespace veil::designs::obfuscatune {

inline void put_sealed(transport::Message& m, const tee::SealedStream& sealed) {
  m.blobs["header"] = sealed.header;
  for (std::size_t i = 0; i < sealed.chunks.size(); ++i) m.blobs["chunk." + std::to_string(i)] = sealed.chunks[i];
  m.ints = {static_cast<std::int32_t>(sealed.chunks.size())};
}

// Throws transport::ProtocolError naming `op` when the message does not hold a sealed stream.
[[nodiscard]] inline tee::SealedStream sealed_from(const transport::Message& m, const std::string& op) {
  if (m.ints.size() != 1 || m.ints[0] < 1 || m.ints[0] > (1 << 20))
    throw transport::ProtocolError(op + ": expected ints {chunks} and a sealed stream");
  tee::SealedStream sealed{m.blob("header"), {}};
  for (int i = 0; i < m.ints[0]; ++i) sealed.chunks.push_back(m.blob("chunk." + std::to_string(i)));
  return sealed;
}

}  // namespace veil::designs::obfuscatune
