// The he-lora audit check shared by the in-process and the multi-process tests: everything a worker
// received or sent is a veil::he ciphertext, result or public plan mask under parameters meeting
// 128-bit security, or those parameters; no tensors, no metadata, and no integers but layer /
// projection / direction / layout ids (requests) and public chunk sizes (replies).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <vector>

#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/he/context.h"
#include "veil/he/serialization.h"
#include "veil/transport/audit_tap.h"

namespace veil::designs::he_lora {

struct AuditSummary {
  std::size_t ciphertexts = 0;  // uploads and results
  std::size_t messages = 0;
  std::optional<he::Parameters> parameters;  // those of the he.setup the worker received
};

// Checks `entries` (one worker's tap) with gtest expectations. `expected`, when given, must equal
// the parameters the worker was set up with.
inline AuditSummary check_worker_audit(const std::vector<transport::TapEntry>& entries,
                                       const std::optional<he::Parameters>& expected = std::nullopt) {
  AuditSummary s;
  std::optional<he::Context> ctx;
  for (const auto& e : entries) {
    ++s.messages;
    const auto& m = e.message;
    if (m.op == "he.setup" && e.direction == transport::Direction::kReceived) {
      const auto& blob = m.blob("parameters");
      s.parameters = he::load_parameters(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size()));
      EXPECT_EQ(security_bits(*s.parameters), 128) << "the worker was set up below 128-bit security";
      if (expected) {
        EXPECT_EQ(*s.parameters, *expected);
      }
      ctx.emplace(*s.parameters);
    }
    EXPECT_TRUE(m.tensors.empty()) << m.op << " carries a plaintext tensor";
    if (e.direction == transport::Direction::kReceived) {
      for (int v : m.ints) EXPECT_TRUE((v >= -1 && v <= 16) || v == kEmbedGroup) << m.op << " int " << v;
    }
    for (const auto& [name, blob] : m.blobs) {
      std::span<const std::uint8_t> b(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size());
      if (he::peek_kind(b) == he::BlobKind::kParameters) {
        EXPECT_EQ(he::load_parameters(b), *s.parameters);
        continue;
      }
      if (!ctx) {
        ADD_FAILURE() << m.op << ": a ciphertext before he.setup";
        continue;
      }
      switch (he::peek_kind(b)) {
        case he::BlobKind::kEncryptedMatrix:
          (void)he::load_encrypted_matrix(*ctx, b);  // throws unless under the session's parameters
          ++s.ciphertexts;
          break;
        case he::BlobKind::kEncryptedResult:
          (void)he::load_encrypted_result(*ctx, b);
          ++s.ciphertexts;
          break;
        case he::BlobKind::kPlanMask:
          EXPECT_EQ(e.direction, transport::Direction::kSent) << "a plan mask is computed by the worker";
          (void)he::load_plan_mask(*ctx, b);
          break;
        default:
          ADD_FAILURE() << m.op << " blob " << name << " is no veil::he object";
      }
    }
    // worker.info (the data owner asking a remote worker which layers it serves) names the design.
    for (const auto& [k, v] : m.meta)
      if (m.op != "worker.info") ADD_FAILURE() << m.op << " carries meta " << k << "=" << v;
  }
  return s;
}

}  // namespace veil::designs::he_lora
