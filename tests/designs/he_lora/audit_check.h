// The he-lora audit check shared by the in-process and the multi-process tests: everything a worker
// received or sent is a veil::he ciphertext, result or public plan mask under parameters meeting
// 128-bit security (the session's, from he.setup, or a plan's, which the worker fits to its weights
// and sends with the plan's mask), or those parameters; no tensors, no metadata, and no integers but layer /
// projection / direction / layout ids (requests) and public chunk sizes (replies).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
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
  std::map<std::uint64_t, he::Context> ctx;  // by parameter hash
  auto hash_of = [](std::span<const std::uint8_t> b) {
    std::uint64_t h = 0;
    for (int i = 0; i < 8; ++i) h |= std::uint64_t{b[16 + i]} << (8 * i);  // header bytes 16..23
    return h;
  };
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
      ctx.emplace(s.parameters->hash(), he::Context(*s.parameters));
    }
    EXPECT_TRUE(m.tensors.empty()) << m.op << " carries a plaintext tensor";
    if (e.direction == transport::Direction::kReceived) {
      for (int v : m.ints) EXPECT_TRUE((v >= -1 && v <= 16) || v == kEmbedGroup) << m.op << " int " << v;
    }
    // Parameter blobs first: a plan's parameters (s<i>) travel with its mask (p<i>).
    std::vector<std::pair<std::string, std::string>> blobs;
    for (const auto& [name, blob] : m.blobs) {
      if (name == "session" && e.direction == transport::Direction::kReceived) {
        // The data owner's random session id (kSessionIdBytes), nothing else.
        EXPECT_EQ(blob.size(), kSessionIdBytes) << m.op << ": session id";
        continue;
      }
      blobs.emplace_back(name, blob);
    }
    std::stable_partition(blobs.begin(), blobs.end(), [](const auto& nb) {
      return he::peek_kind(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(nb.second.data()),
                                                         nb.second.size())) == he::BlobKind::kParameters;
    });
    for (const auto& [name, blob] : blobs) {
      std::span<const std::uint8_t> b(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size());
      if (he::peek_kind(b) == he::BlobKind::kParameters) {
        const he::Parameters p = he::load_parameters(b);
        EXPECT_EQ(security_bits(p), 128) << m.op << ": parameters below 128-bit security";
        if (s.parameters) {
          EXPECT_EQ(p.poly_degree, s.parameters->poly_degree);
          EXPECT_EQ(p.crs_seed, s.parameters->crs_seed);
        } else {
          ADD_FAILURE() << m.op << ": parameters before he.setup";
        }
        ctx.try_emplace(p.hash(), p);
        continue;
      }
      auto it = ctx.find(hash_of(b));
      if (it == ctx.end()) {
        ADD_FAILURE() << m.op << ": a blob under parameters the worker was not given or did not send";
        continue;
      }
      const he::Context& c = it->second;
      switch (he::peek_kind(b)) {
        case he::BlobKind::kEncryptedMatrix:
          (void)he::load_encrypted_matrix(c, b);  // throws unless under the session's parameters
          ++s.ciphertexts;
          break;
        case he::BlobKind::kEncryptedResult:
          (void)he::load_encrypted_result(c, b);
          ++s.ciphertexts;
          break;
        case he::BlobKind::kPlanMask:
          EXPECT_EQ(e.direction, transport::Direction::kSent) << "a plan mask is computed by the worker";
          (void)he::load_plan_mask(c, b);
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
