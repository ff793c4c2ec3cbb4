// Fused elementwise kernels over contiguous float arrays, written so that the compiler vectorises
// them (no calls, no branches in the loops; src/runtime/vec_math.cpp is compiled with -O3 and,
// with VEIL_NATIVE, for the build machine's vector width). Each replaces a chain of ATen ops that
// reads and writes the whole tensor once per op: ATen's own CPU kernels here are the Debian
// build's, and in a LoRA step its activation backward ops and the LM head's log-sum-exp took
// 7-15 ns per element (bench_engine --op-trace; docs/results/engine.md).
//
// Accuracy: exp is the Cephes single-precision polynomial after a Cody-Waite range reduction
// (about 1 ulp for |x| < 87; arguments are clamped to [-87.3, 88.3], so exp never returns 0 or
// inf: the smallest result is 1.2e-38, which every caller below treats as 0 to float precision).
// sigmoid is built from it (and GPT-2's tanh-GELU as x·σ(2u), the same function); the activations agree with ATen's float64 results to a few
// float ulps (tests/runtime/vec_math_test.cpp).
#pragma once

#include <cstdint>

namespace veil::runtime {

// y = exp(x), elementwise (x and y may alias).
void vexp(const float* x, float* y, std::int64_t n);

// GPT-2's "gelu_new": y = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))).
void gelu_tanh_forward(const float* x, float* y, std::int64_t n);
// dx = dy · d/dx gelu_tanh(x).
void gelu_tanh_backward(const float* x, const float* dy, float* dx, std::int64_t n);

// Llama's SwiGLU: y = silu(g) · u = g·σ(g) · u.
void swiglu_forward(const float* g, const float* u, float* y, std::int64_t n);
// dg = dy · u · σ(g)·(1 + g·(1 − σ(g))),  du = dy · silu(g).
void swiglu_backward(const float* g, const float* u, const float* dy, float* dg, float* du, std::int64_t n);

// Row-wise softmax in place over a [rows, cols] row-major block; lse[r] receives each row's
// log-sum-exp (log Σ exp(x[r, ·]), computed from the row maximum, so it does not overflow).
void softmax_rows_inplace(float* x, std::int64_t rows, std::int64_t cols, double* lse);

// Causal attention softmax over [rows, cols] scores whose rows are queries of `queries`
// consecutive positions ending at the last key (row r is query r mod queries, which sees keys
// 0 .. cols − queries + r mod queries): y = softmax(scale·x) over those keys, 0 after them.
void causal_softmax_forward(const float* x, float* y, std::int64_t rows, std::int64_t cols, std::int64_t queries,
                            float scale);
// dx = scale · y ⊙ (dy − Σ y⊙dy) over each row's visible keys, 0 after them.
void causal_softmax_backward(const float* y, const float* dy, float* dx, std::int64_t rows, std::int64_t cols,
                             std::int64_t queries, float scale);

}  // namespace veil::runtime
