// veil::he::Decryptor: the data owner's side; recovers the exact integer product.
#pragma once

#include <cstdint>
#include <vector>

#include "veil/he/ciphertext.h"
#include "veil/he/context.h"
#include "veil/he/keys.h"

namespace veil::he {

class Decryptor {
 public:
  // Throws std::invalid_argument if the key belongs to other parameters.
  Decryptor(const Context& ctx, const SecretKey& key);

  // Returns the rows x cols product (row-major) of the centred input and the plan's weights.
  // Exact whenever the inputs and weights were within the parameters' bounds in Precision::kExact;
  // in kCompact off by the noise and the result rounding, never wrapped around (docs/he.md §3.1).
  // Throws std::invalid_argument if result and mask do not belong together or to these parameters.
  [[nodiscard]] std::vector<int64_t> decrypt(const EncryptedResult& result, const PlanMask& mask) const;

 private:
  Context ctx_;
  const SecretKey* key_;
};

}  // namespace veil::he
