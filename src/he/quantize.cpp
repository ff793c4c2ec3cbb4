#include "veil/he/quantize.h"

#include <algorithm>
#include <cmath>

#include "veil/util/check.h"

namespace veil::he {

QuantizedRows quantize_rows(std::span<const float> x, size_t rows, size_t cols, int bits) {
  VEIL_CHECK_ARG(bits >= 2 && bits <= 16, "activation bit width ", bits, " outside [2, 16]");
  VEIL_CHECK_ARG(rows >= 1 && cols >= 1 && x.size() == rows * cols, "activation matrix has ", x.size(),
                 " values, expected ", rows, " x ", cols);
  QuantizedRows q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.values.resize(rows * cols);
  q.scale.resize(rows);
  q.zero.resize(rows);
  const int32_t levels = (int32_t{1} << bits) - 1, half = int32_t{1} << (bits - 1);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * cols;
    float lo = row[0], hi = row[0];
    for (size_t j = 0; j < cols; ++j) {
      VEIL_CHECK_ARG(std::isfinite(row[j]), "activation (", r, ", ", j, ") is not finite");
      lo = std::min(lo, row[j]);
      hi = std::max(hi, row[j]);
    }
    lo = std::min(lo, 0.0f);  // keep 0 representable exactly (padding, ReLU zeros)
    hi = std::max(hi, 0.0f);
    const double scale = hi > lo ? (static_cast<double>(hi) - lo) / levels : 1.0;
    const int32_t zero = static_cast<int32_t>(std::clamp<long long>(std::llround(-lo / scale), 0, levels));
    q.scale[r] = static_cast<float>(scale);
    q.zero[r] = zero;
    for (size_t j = 0; j < cols; ++j) {
      const long long v = std::llround(row[j] / scale) + zero;
      q.values[r * cols + j] = static_cast<int32_t>(std::clamp<long long>(v, 0, levels)) - half;
    }
    // An all-zero row (padding, positions without a loss) dequantises to exact zeros even when the
    // product carries an error (Precision::kCompact): scale 0 instead of the placeholder 1.
    if (!(hi > lo)) q.scale[r] = 0.0f;
  }
  return q;
}

QuantizedColumns quantize_columns(std::span<const float> w, size_t rows, size_t cols, int bits) {
  VEIL_CHECK_ARG(bits >= 2 && bits <= 16, "weight bit width ", bits, " outside [2, 16]");
  VEIL_CHECK_ARG(rows >= 1 && cols >= 1 && w.size() == rows * cols, "weight matrix has ", w.size(),
                 " values, expected ", rows, " x ", cols);
  QuantizedColumns q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.values.resize(rows * cols);
  q.scale.resize(cols);
  const int32_t wmax = (int32_t{1} << (bits - 1)) - 1;
  for (size_t c = 0; c < cols; ++c) {
    float m = 0;
    for (size_t j = 0; j < rows; ++j) {
      const float v = w[j * cols + c];
      VEIL_CHECK_ARG(std::isfinite(v), "weight (", j, ", ", c, ") is not finite");
      m = std::max(m, std::fabs(v));
    }
    const double scale = m > 0 ? static_cast<double>(m) / wmax : 1.0;
    q.scale[c] = static_cast<float>(scale);
    for (size_t j = 0; j < rows; ++j)
      q.values[j * cols + c] =
          static_cast<int32_t>(std::clamp<long long>(std::llround(w[j * cols + c] / scale), -wmax, wmax));
  }
  return q;
}

std::vector<float> dequantize_product(std::span<const int64_t> p, const QuantizedRows& q,
                                      std::span<const int64_t> col_sums, std::span<const float> col_scale) {
  const size_t cols = col_sums.size();
  VEIL_CHECK_ARG(p.size() == q.rows * cols, "product has ", p.size(), " values, expected ", q.rows, " x ", cols);
  VEIL_CHECK_ARG(col_scale.empty() || col_scale.size() == cols, "column scales have ", col_scale.size(),
                 " entries, expected ", cols);
  std::vector<float> y(p.size());
  const int64_t half = int64_t{1} << (q.bits - 1);
  for (size_t r = 0; r < q.rows; ++r) {
    const int64_t corr = half - q.zero[r];
    for (size_t c = 0; c < cols; ++c) {
      const double v = static_cast<double>(p[r * cols + c] + corr * col_sums[c]) * q.scale[r];
      y[r * cols + c] = static_cast<float>(col_scale.empty() ? v : v * col_scale[c]);
    }
  }
  return y;
}

}  // namespace veil::he
