// Versioned wire format of veil::he (docs/he.md, "Wire format"). Every blob starts with a 32-byte
// little-endian header: magic "VLHE", version, header size, kind, flags, parameter hash, payload
// size. Coefficients are bit-packed at log2 of their modulus (q = 2^log_q up, q' down), so a value
// costs exactly that many bits. Loaders validate everything (sizes, hash, ranges, padding bits)
// and throw std::invalid_argument naming the problem and its byte offset; they never read out of
// bounds. There is deliberately no serialisation of secret keys.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "veil/he/ciphertext.h"
#include "veil/he/context.h"
#include "veil/he/parameters.h"

namespace veil::he {

enum class BlobKind : uint32_t { kParameters = 1, kEncryptedMatrix = 2, kEncryptedResult = 3, kPlanMask = 4 };

inline constexpr uint16_t kWireVersion = 2;  // 2: parameters carry precision and L1 bounds
inline constexpr size_t kHeaderSize = 32;

[[nodiscard]] std::vector<uint8_t> save(const Parameters& parms);
[[nodiscard]] std::vector<uint8_t> save(const Context& ctx, const EncryptedMatrix& x);
[[nodiscard]] std::vector<uint8_t> save(const Context& ctx, const EncryptedResult& r);
[[nodiscard]] std::vector<uint8_t> save(const Context& ctx, const PlanMask& m);

// Validates and loads parameters (also runs Parameters::validate()).
[[nodiscard]] Parameters load_parameters(std::span<const uint8_t> blob);
[[nodiscard]] EncryptedMatrix load_encrypted_matrix(const Context& ctx, std::span<const uint8_t> blob);
[[nodiscard]] EncryptedResult load_encrypted_result(const Context& ctx, std::span<const uint8_t> blob);
[[nodiscard]] PlanMask load_plan_mask(const Context& ctx, std::span<const uint8_t> blob);

// Kind of a blob after checking its header (magic, version, sizes); throws like the loaders.
[[nodiscard]] BlobKind peek_kind(std::span<const uint8_t> blob);

}  // namespace veil::he
