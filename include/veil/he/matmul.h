// High-level encrypted matmul for the he-lora design (docs/he.md, "High-level API").
//
// Data owner:  HeMatmulClient  float X -> quantise per row -> encrypt -> bytes (upload)
//                              bytes (result) -> decrypt -> zero-point correction -> float X W
// Worker:      HeMatmulServer  holds clear float weights as plans; bytes -> bytes; no key material.
//
// One upload can be multiplied by several plans (q/k/v projections sharing an input), each
// decrypted with the same pending Upload. For the backward pass (gradient G times W^T) add the
// weights with transpose = true and pass that plan's id to encrypt(): the per-output-channel
// weight scales are folded into the gradient columns before quantisation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "veil/he/ciphertext.h"
#include "veil/he/context.h"
#include "veil/he/evaluator.h"
#include "veil/he/keys.h"
#include "veil/he/quantize.h"
#include "veil/he/verify.h"

namespace veil::he {

class HeMatmulServer {
 public:
  // Throws std::invalid_argument on invalid/insecure parameters.
  explicit HeMatmulServer(const Parameters& parms);

  // Quantises w (k x n, row-major) per output channel to weight_bits and packs a plan. Returns its id.
  uint64_t add_weights(std::span<const float> w, size_t k, size_t n, bool transpose = false);
  // Already-quantised integer weights (no scales).
  uint64_t add_integer_weights(std::span<const int32_t> w, size_t k, size_t n, bool transpose = false);

  // One-time public data for the client (PlanMask blob with scales). Computed lazily and cached.
  [[nodiscard]] std::vector<uint8_t> plan_info(uint64_t plan_id, Layout layout);
  // Encrypted upload -> encrypted, compressed result. Throws std::invalid_argument on malformed input.
  [[nodiscard]] std::vector<uint8_t> multiply(std::span<const uint8_t> upload, uint64_t plan_id) const;

  [[nodiscard]] const Context& context() const { return ctx_; }

 private:
  struct Entry {
    WeightPlan plan;
    PlanMask::ScaleKind scale_kind;
    std::vector<float> scales;
  };
  const Entry& entry(uint64_t plan_id) const;
  uint64_t add(WeightPlan plan, PlanMask::ScaleKind kind, std::vector<float> scales);
  Context ctx_;
  Evaluator eval_;
  std::map<uint64_t, Entry> plans_;
};

class HeMatmulClient {
 public:
  // What the data owner keeps between upload and download: the one-time key and the row
  // quantisation. Move-only; the key is zeroised on destruction.
  class Upload {
   public:
    [[nodiscard]] size_t rows() const { return q_.rows; }
    [[nodiscard]] size_t cols() const { return q_.cols; }
    [[nodiscard]] Layout layout() const { return layout_; }

   private:
    friend class HeMatmulClient;
    Upload(SecretKey key, QuantizedRows q, Layout layout, uint64_t bound_plan)
        : key_(std::move(key)), q_(std::move(q)), layout_(layout), bound_plan_(bound_plan) {}
    SecretKey key_;
    QuantizedRows q_;
    Layout layout_;
    uint64_t bound_plan_;  // non-zero when scales of a transposed plan were folded in
  };

  explicit HeMatmulClient(const Parameters& parms);

  // Registers a plan's public info from HeMatmulServer::plan_info; returns the plan id.
  uint64_t add_plan_info(std::span<const uint8_t> blob);
  // The same, checked first against the public weights (ProductCheck::check_plan: shape, column
  // sums, scales, mask); every later result of the plan is then checked too (decrypt_integer).
  // Throws VerificationError when the plan info fails the check.
  uint64_t add_plan_info(std::span<const uint8_t> blob, std::shared_ptr<const ProductCheck> check);

  // Quantises x (rows x cols) per row to input_bits and encrypts it under a fresh one-time key.
  // For a transposed plan pass its id so its inner scales are folded in (the upload is then
  // bound to plans with those scales). Returns the upload bytes; `pending` receives the key.
  [[nodiscard]] std::vector<uint8_t> encrypt(std::span<const float> x, size_t rows, size_t cols,
                                             std::unique_ptr<Upload>& pending, uint64_t fold_plan_id = 0);

  // Encrypts integer values (centred input_bits-bit range; rows within the parameters' input_l1
  // bound) without quantisation, e.g. a one-hot row for an exact table lookup. Results of such an
  // upload are read with decrypt_integer only.
  [[nodiscard]] std::vector<uint8_t> encrypt_integer(std::span<const int32_t> x, size_t rows, size_t cols,
                                                     std::unique_ptr<Upload>& pending);
  // The per-output-channel weight scales of a registered plan (empty unless kPerOutput).
  [[nodiscard]] std::span<const float> output_scales(uint64_t plan_id, Layout layout) const;

  // Decrypts a result of `pending`'s upload (any plan registered for its layout) to float.
  // Throws std::invalid_argument on malformed bytes, unknown plans or mismatched shapes.
  // With expected_plan != 0 the result must be of that plan (VerificationError otherwise). Results of
  // a plan registered with a ProductCheck are checked (VerificationError when they fail).
  [[nodiscard]] std::vector<float> decrypt(std::span<const uint8_t> result, const Upload& pending,
                                           uint64_t expected_plan = 0) const;
  // The integer product (centred inputs times integer weights; exact in Precision::kExact, within
  // the noise and rounding of docs/he.md §3.1 in kCompact), for callers that dequantise themselves.
  [[nodiscard]] std::vector<int64_t> decrypt_integer(std::span<const uint8_t> result, const Upload& pending,
                                                     uint64_t* plan_id = nullptr, uint64_t expected_plan = 0) const;

  // Bytes the registered plan masks occupy (their N words per output column dominate: the data
  // owner's memory cost of this scheme, docs/he.md §8).
  [[nodiscard]] size_t mask_bytes() const;
  [[nodiscard]] const Context& context() const { return ctx_; }
  // Products checked (ProductCheck::check_product) and the nanoseconds those checks took.
  [[nodiscard]] uint64_t products_checked() const { return checked_.load(); }
  [[nodiscard]] uint64_t check_nanoseconds() const { return check_ns_.load(); }
  // Plan masks checked (ProductCheck::check_plan) and the nanoseconds those checks took.
  [[nodiscard]] uint64_t masks_checked() const { return masks_checked_.load(); }
  [[nodiscard]] uint64_t mask_check_nanoseconds() const { return mask_check_ns_.load(); }

 private:
  const PlanMask& mask(uint64_t plan_id, Layout layout) const;
  mutable std::atomic<uint64_t> checked_{0}, check_ns_{0};
  std::atomic<uint64_t> masks_checked_{0}, mask_check_ns_{0};
  Context ctx_;
  std::map<std::pair<uint64_t, Layout>, PlanMask> masks_;
  std::map<uint64_t, std::shared_ptr<const ProductCheck>> checks_;  // by plan id
};

}  // namespace veil::he
