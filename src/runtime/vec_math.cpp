#include "veil/runtime/vec_math.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace veil::runtime {
namespace {

// Cephes expf: e^x = 2^n · e^r, n = round(x / ln 2), r = x − n·ln 2 in two parts (Cody-Waite), e^r
// by a degree-6 polynomial on [−ln2/2, ln2/2]. Rounding by the 1.5·2^23 trick (round to nearest
// under the default rounding mode), 2^n built in the exponent bits: all of it vectorises.
inline float exp_kernel(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);  // n stays in [−126, 127]: 2^n is a normal float
  constexpr float kShift = 12582912.0f;  // 1.5 · 2^23
  const float n = (x * 1.44269504088896341f + kShift) - kShift;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const auto scale = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  return p * scale;
}

inline float sigmoid_kernel(float x) { return 1.0f / (1.0f + exp_kernel(-x)); }

constexpr float kGeluC = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluA = 0.044715f;

}  // namespace

void vexp(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = exp_kernel(x[i]);
}

// x/2 · (1 + tanh(u)) = x · σ(2u): the same function without the cancellation of 1 + tanh(u) for
// large negative x (where float's 1 + tanh(u) is 0 while the true value is a few 1e-7).
void gelu_tanh_forward(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kGeluC * (v + kGeluA * v * v * v);
    y[i] = v * sigmoid_kernel(2.0f * u);
  }
}

// d/dx [x·σ(2u)] = σ(2u) + x · σ(2u)(1 − σ(2u)) · 2u′, u′ = √(2/π)(1 + 3·0.044715·x²).
void gelu_tanh_backward(const float* x, const float* dy, float* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float v2 = v * v;
    const float e = exp_kernel(-2.0f * kGeluC * (v + kGeluA * v2 * v));
    const float s = 1.0f / (1.0f + e);  // σ(2u); 1 − σ(2u) = e·σ(2u) without cancellation
    const float du = 2.0f * kGeluC * (1.0f + 3.0f * kGeluA * v2);
    dx[i] = dy[i] * (s + v * (e * s * s) * du);
  }
}

void swiglu_forward(const float* g, const float* u, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = g[i] * sigmoid_kernel(g[i]) * u[i];
}

void swiglu_backward(const float* g, const float* u, const float* dy, float* dg, float* du, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gv = g[i], d = dy[i];
    const float e = exp_kernel(-gv);
    const float s = 1.0f / (1.0f + e);  // σ(g); 1 − σ(g) = e·σ(g) without cancellation
    const float silu = gv * s;
    const float dsilu = s * (1.0f + gv * (e * s));
    dg[i] = d * u[i] * dsilu;
    du[i] = d * silu;
  }
}

void softmax_rows_inplace(float* x, std::int64_t rows, std::int64_t cols, double* lse) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (std::int64_t i = 0; i < cols; ++i) m = row[i] > m ? row[i] : m;

    // exp(x − m) in place and its sum: a float sum per block of kBlock elements (vector lanes, by
    // the simd reduction), blocks added in double, so a 128k-wide row sums to ~1e-7 relative.
    double sum = 0;
    constexpr std::int64_t kBlock = 1024;
    for (std::int64_t b = 0; b < cols; b += kBlock) {
      const std::int64_t end = std::min(cols, b + kBlock);
      float block_sum = 0;
#pragma omp simd reduction(+ : block_sum)
      for (std::int64_t i = b; i < end; ++i) {
        const float e = exp_kernel(row[i] - m);
        row[i] = e;
        block_sum += e;
      }
      sum += block_sum;
    }
    lse[r] = std::log(sum) + m;
    const float inv = static_cast<float>(1.0 / sum);
    for (std::int64_t i = 0; i < cols; ++i) row[i] *= inv;
  }
}

void causal_softmax_forward(const float* x, float* y, std::int64_t rows, std::int64_t cols, std::int64_t queries,
                            float scale) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    const std::int64_t valid = cols - queries + r % queries + 1;
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (std::int64_t i = 0; i < valid; ++i) m = in[i] > m ? in[i] : m;
    m *= scale;
    float sum = 0;  // rows are attention spans (≤ a few thousand): a float sum in vector lanes suffices
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < valid; ++i) {
      const float e = exp_kernel(in[i] * scale - m);
      out[i] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (std::int64_t i = 0; i < valid; ++i) out[i] *= inv;
    for (std::int64_t i = valid; i < cols; ++i) out[i] = 0.0f;
  }
}

void causal_softmax_backward(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols,
                             std::int64_t queries, float scale) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* out = dx + r * cols;
    const std::int64_t valid = cols - queries + r % queries + 1;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (std::int64_t i = 0; i < valid; ++i) dot += yr[i] * dyr[i];
    for (std::int64_t i = 0; i < valid; ++i) out[i] = scale * yr[i] * (dyr[i] - dot);
    for (std::int64_t i = valid; i < cols; ++i) out[i] = 0.0f;
  }
}

}  // namespace veil::runtime
