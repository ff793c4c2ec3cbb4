#include "veil/he/matmul.h"

#include <chrono>
#include <string>

#include "veil/he/decryptor.h"
#include "veil/he/encryptor.h"
#include "veil/he/serialization.h"
#include "veil/util/check.h"

namespace veil::he {

// ---------------------------------------------------------------------------------------------
// Server

HeMatmulServer::HeMatmulServer(const Parameters& parms) : ctx_(parms), eval_(ctx_) {}

uint64_t HeMatmulServer::add(WeightPlan plan, PlanMask::ScaleKind kind, std::vector<float> scales) {
  const uint64_t id = plan.id();
  plans_.insert_or_assign(id, Entry{std::move(plan), kind, std::move(scales)});
  return id;
}

uint64_t HeMatmulServer::add_weights(std::span<const float> w, size_t k, size_t n, bool transpose) {
  QuantizedColumns q = quantize_columns(w, k, n, static_cast<int>(ctx_.parameters().weight_bits));
  WeightPlan plan = eval_.make_plan(q.values, k, n, transpose);
  return add(std::move(plan), transpose ? PlanMask::ScaleKind::kPerInner : PlanMask::ScaleKind::kPerOutput,
             std::move(q.scale));
}

uint64_t HeMatmulServer::add_integer_weights(std::span<const int32_t> w, size_t k, size_t n, bool transpose) {
  return add(eval_.make_plan(w, k, n, transpose), PlanMask::ScaleKind::kNone, {});
}

const HeMatmulServer::Entry& HeMatmulServer::entry(uint64_t plan_id) const {
  auto it = plans_.find(plan_id);
  VEIL_CHECK_ARG(it != plans_.end(), "unknown plan id ", plan_id);
  return it->second;
}

std::vector<uint8_t> HeMatmulServer::plan_info(uint64_t plan_id, Layout layout) {
  const Entry& e = entry(plan_id);
  PlanMask m = eval_.make_mask(e.plan, layout);
  m.scale_kind = e.scale_kind;
  m.scales = e.scales;
  return save(ctx_, m);
}

std::vector<uint8_t> HeMatmulServer::multiply(std::span<const uint8_t> upload, uint64_t plan_id) const {
  const Entry& e = entry(plan_id);
  EncryptedMatrix x = load_encrypted_matrix(ctx_, upload);
  return save(ctx_, eval_.multiply(x, e.plan));
}

// ---------------------------------------------------------------------------------------------
// Client

HeMatmulClient::HeMatmulClient(const Parameters& parms) : ctx_(parms) {}

uint64_t HeMatmulClient::add_plan_info(std::span<const uint8_t> blob) { return add_plan_info(blob, nullptr); }

uint64_t HeMatmulClient::add_plan_info(std::span<const uint8_t> blob, std::shared_ptr<const ProductCheck> check) {
  PlanMask m = load_plan_mask(ctx_, blob);
  if (check) {
    const auto t0 = std::chrono::steady_clock::now();
    check->check_plan(ctx_, m);
    mask_check_ns_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    ++masks_checked_;
    if (auto it = checks_.find(m.plan_id); it != checks_.end() && it->second != check)
      throw VerificationError("plan mask check: plan " + std::to_string(m.plan_id) +
                              " was already registered for other weights");
    checks_[m.plan_id] = std::move(check);
  }
  const uint64_t id = m.plan_id;
  const Layout layout = m.layout;
  masks_.insert_or_assign({id, layout}, std::move(m));
  return id;
}

size_t HeMatmulClient::mask_bytes() const {
  size_t total = 0;
  for (const auto& [key, m] : masks_)
    total += m.mask.size() * sizeof(uint64_t) + m.col_sums.size() * sizeof(int64_t) + m.scales.size() * sizeof(float);
  return total;
}

const PlanMask& HeMatmulClient::mask(uint64_t plan_id, Layout layout) const {
  auto it = masks_.find({plan_id, layout});
  VEIL_CHECK_ARG(it != masks_.end(), "no plan info for plan ", plan_id, " in layout ", static_cast<int>(layout),
                 "; register HeMatmulServer::plan_info(", plan_id, ", layout) first");
  return it->second;
}

std::vector<uint8_t> HeMatmulClient::encrypt(std::span<const float> x, size_t rows, size_t cols,
                                             std::unique_ptr<Upload>& pending, uint64_t fold_plan_id) {
  const Parameters& p = ctx_.parameters();
  const Layout layout = choose_layout(p, rows);
  VEIL_CHECK_ARG(rows >= 1 && cols >= 1 && x.size() == rows * cols, "input has ", x.size(), " values, expected ",
                 rows, " x ", cols);
  QuantizedRows q;
  if (fold_plan_id != 0) {
    const PlanMask& m = mask(fold_plan_id, layout);
    VEIL_CHECK_ARG(m.scale_kind == PlanMask::ScaleKind::kPerInner && m.scales.size() == cols,
                   "plan ", fold_plan_id, " has no per-inner scales for ", cols, " input columns");
    std::vector<float> scaled(x.begin(), x.end());
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < cols; ++j) scaled[r * cols + j] *= m.scales[j];
    q = quantize_rows(scaled, rows, cols, static_cast<int>(p.input_bits));
  } else {
    q = quantize_rows(x, rows, cols, static_cast<int>(p.input_bits));
  }
  SecretKey key = KeyGenerator(ctx_).create_one_time_key();
  Encryptor enc(ctx_, key);
  EncryptedMatrix ct = enc.encrypt(q.values, rows, cols, layout);
  std::vector<uint8_t> bytes = save(ctx_, ct);
  pending.reset(new Upload(std::move(key), std::move(q), layout, fold_plan_id));
  return bytes;
}

std::vector<uint8_t> HeMatmulClient::encrypt_integer(std::span<const int32_t> x, size_t rows, size_t cols,
                                                     std::unique_ptr<Upload>& pending) {
  const Parameters& p = ctx_.parameters();
  VEIL_CHECK_ARG(rows >= 1 && cols >= 1 && x.size() == rows * cols, "input has ", x.size(), " values, expected ",
                 rows, " x ", cols);
  const Layout layout = choose_layout(p, rows);
  SecretKey key = KeyGenerator(ctx_).create_one_time_key();
  Encryptor enc(ctx_, key);
  EncryptedMatrix ct = enc.encrypt(x, rows, cols, layout);
  std::vector<uint8_t> bytes = save(ctx_, ct);
  QuantizedRows q;
  q.rows = rows;
  q.cols = cols;
  q.bits = static_cast<int>(p.input_bits);
  q.values.assign(x.begin(), x.end());  // what a ProductCheck multiplies by W·r
  pending.reset(new Upload(std::move(key), std::move(q), layout, 0));
  return bytes;
}

std::span<const float> HeMatmulClient::output_scales(uint64_t plan_id, Layout layout) const {
  const PlanMask& m = mask(plan_id, layout);
  if (m.scale_kind != PlanMask::ScaleKind::kPerOutput) return {};
  return m.scales;
}

std::vector<int64_t> HeMatmulClient::decrypt_integer(std::span<const uint8_t> result, const Upload& pending,
                                                     uint64_t* plan_id, uint64_t expected_plan) const {
  EncryptedResult r = load_encrypted_result(ctx_, result);
  if (expected_plan != 0 && r.plan_id != expected_plan)
    throw VerificationError("result check: the result is of plan " + std::to_string(r.plan_id) + ", plan " +
                            std::to_string(expected_plan) + " was requested");
  VEIL_CHECK_ARG(r.rows == pending.rows(), "result has ", r.rows, " rows, the upload had ", pending.rows());
  VEIL_CHECK_ARG(r.layout == pending.layout(), "result layout does not match the upload");
  const PlanMask& m = mask(r.plan_id, r.layout);
  VEIL_CHECK_ARG(m.inner == pending.cols(), "plan ", r.plan_id, " has inner dimension ", m.inner, ", the upload had ",
                 pending.cols(), " columns");
  if (plan_id) *plan_id = r.plan_id;
  std::vector<int64_t> y = Decryptor(ctx_, pending.key_).decrypt(r, m);
  if (auto it = checks_.find(r.plan_id); it != checks_.end()) {
    const auto t0 = std::chrono::steady_clock::now();
    it->second->check_product(ctx_.parameters(), y, pending.q_.values, pending.rows());
    check_ns_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    ++checked_;
  }
  return y;
}

std::vector<float> HeMatmulClient::decrypt(std::span<const uint8_t> result, const Upload& pending,
                                           uint64_t expected_plan) const {
  VEIL_CHECK_ARG(pending.q_.scale.size() == pending.rows(), "the upload holds integers (encrypt_integer): use "
                 "decrypt_integer");
  uint64_t id = 0;
  std::vector<int64_t> p = decrypt_integer(result, pending, &id, expected_plan);
  const PlanMask& m = mask(id, pending.layout());
  VEIL_CHECK_ARG(pending.bound_plan_ == 0 || pending.bound_plan_ == id, "the upload carries the scales of plan ",
                 pending.bound_plan_, " and cannot be dequantised with plan ", id);
  if (m.scale_kind == PlanMask::ScaleKind::kPerInner) {
    VEIL_CHECK_ARG(pending.bound_plan_ == id, "the upload was not encrypted with plan ", id,
                   "'s scales folded in; pass fold_plan_id to encrypt()");
  }
  std::span<const float> col_scale;
  if (m.scale_kind == PlanMask::ScaleKind::kPerOutput) col_scale = m.scales;
  return dequantize_product(p, pending.q_, m.col_sums, col_scale);
}

}  // namespace veil::he
