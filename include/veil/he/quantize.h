// HE-compatible quantisation (docs/he.md, "Quantisation"): dynamic per-row asymmetric
// quantisation of activations/gradients and per-output-channel symmetric quantisation of weights,
// 2..16 bits. The encrypted product is of integers; the data owner corrects zero points after
// decryption with the plan's column sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace veil::he {

// x[r][j] ~= scale[r] * (values[r][j] + 2^(bits-1) - zero[r]); values are centred in
// [-2^(bits-1), 2^(bits-1)) (what the Encryptor takes), zero[r] in [0, 2^bits - 1]. An all-zero
// row has scale 0 (so its product dequantises to exact zeros in either precision).
struct QuantizedRows {
  size_t rows = 0, cols = 0;
  int bits = 0;
  std::vector<int32_t> values;
  std::vector<float> scale;
  std::vector<int32_t> zero;
};

// w[j][c] ~= scale[c] * values[j][c], |values| <= 2^(bits-1) - 1.
struct QuantizedColumns {
  size_t rows = 0, cols = 0;
  int bits = 0;
  std::vector<int32_t> values;
  std::vector<float> scale;
};

// Throws std::invalid_argument on bad shapes, bit widths outside [2, 16] or non-finite values.
[[nodiscard]] QuantizedRows quantize_rows(std::span<const float> x, size_t rows, size_t cols, int bits);
[[nodiscard]] QuantizedColumns quantize_columns(std::span<const float> w, size_t rows, size_t cols, int bits);

// Float product from the exact integer product P (rows x cols, of the centred values and the
// quantised weights): y[r][c] = scale[r] * (P[r][c] + (2^(bits-1) - zero[r]) * col_sums[c]) * col_scale[c]
// (col_scale empty means 1).
[[nodiscard]] std::vector<float> dequantize_product(std::span<const int64_t> p, const QuantizedRows& q,
                                                    std::span<const int64_t> col_sums,
                                                    std::span<const float> col_scale);

}  // namespace veil::he
