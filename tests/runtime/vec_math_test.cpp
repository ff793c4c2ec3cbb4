// The fused kernels against ATen's float64 results (an independent implementation: ATen's own
// gelu/silu/logsumexp kernels, evaluated in double precision).
#include "veil/runtime/vec_math.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

namespace veil::runtime {
namespace {

// Inputs spanning the activations' interesting range plus far tails, including an odd length so
// the vector loops' remainders run.
at::Tensor inputs(std::int64_t n, double scale) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto x = at::empty({n}, at::kFloat).normal_(0, scale, gen);
  x[0] = 0.0f;
  x[1] = -30.0f;
  x[2] = 30.0f;
  x[3] = -100.0f;
  x[4] = 100.0f;
  x[5] = 1e-6f;
  return x;
}

// |got − want| ≤ rel·|want| + abs, elementwise; reports the worst element.
void expect_close(const at::Tensor& got, const at::Tensor& want, double rel, double abs) {
  auto g = got.to(at::kDouble).flatten(), w = want.to(at::kDouble).flatten();
  auto excess = (g - w).abs() - (w.abs() * rel + abs);
  auto worst = excess.argmax().item<std::int64_t>();
  EXPECT_LE(excess[worst].item<double>(), 0.0)
      << "at " << worst << ": got " << g[worst].item<double>() << ", want " << w[worst].item<double>();
}

TEST(VecMath, ExpMatchesFloat64WithinAFewUlps) {
  auto x = inputs(4099, 20.0).clamp(-87.0, 88.0);
  auto y = at::empty_like(x);
  vexp(x.data_ptr<float>(), y.data_ptr<float>(), x.numel());
  expect_close(y, x.to(at::kDouble).exp(), 3e-7, 0.0);
}

TEST(VecMath, GeluTanhForwardAndBackwardMatchFloat64) {
  auto x = inputs(4099, 3.0);
  auto dy = inputs(4099, 1.0).roll(1);
  auto y = at::empty_like(x), dx = at::empty_like(x);
  gelu_tanh_forward(x.data_ptr<float>(), y.data_ptr<float>(), x.numel());
  gelu_tanh_backward(x.data_ptr<float>(), dy.data_ptr<float>(), dx.data_ptr<float>(), x.numel());
  auto xd = x.to(at::kDouble);
  expect_close(y, at::gelu(xd, "tanh"), 1e-6, 1e-7);
  expect_close(dx, at::gelu_backward(dy.to(at::kDouble), xd, "tanh"), 1e-6, 1e-7);
}

TEST(VecMath, SwigluForwardAndBackwardMatchFloat64) {
  auto g = inputs(4099, 3.0), u = inputs(4099, 2.0).roll(3), dy = inputs(4099, 1.0).roll(1);
  auto y = at::empty_like(g), dg = at::empty_like(g), du = at::empty_like(g);
  swiglu_forward(g.data_ptr<float>(), u.data_ptr<float>(), y.data_ptr<float>(), g.numel());
  swiglu_backward(g.data_ptr<float>(), u.data_ptr<float>(), dy.data_ptr<float>(), dg.data_ptr<float>(),
                  du.data_ptr<float>(), g.numel());
  auto gd = g.to(at::kDouble), ud = u.to(at::kDouble), dyd = dy.to(at::kDouble);
  expect_close(y, at::silu(gd) * ud, 1e-6, 1e-7);
  expect_close(du, dyd * at::silu(gd), 1e-6, 1e-7);
  expect_close(dg, at::silu_backward(dyd * ud, gd), 1e-6, 1e-7);
}

TEST(VecMath, SoftmaxRowsAndLogSumExpMatchFloat64OnAWideRow) {
  // Rows as wide as Llama-3's vocabulary, with logits spread like an LM head's.
  const std::int64_t rows = 3, cols = 128256 + 5;
  auto x = inputs(rows * cols, 4.0).view({rows, cols});
  x[1].add_(50.0f);  // a row far from 0: the max subtraction matters
  auto want = at::softmax(x.to(at::kDouble), 1);
  auto want_lse = at::logsumexp(x.to(at::kDouble), 1);
  std::vector<double> lse(rows);
  auto y = x.clone();
  softmax_rows_inplace(y.data_ptr<float>(), rows, cols, lse.data());
  expect_close(y, want, 1e-6, 1e-12);
  for (std::int64_t r = 0; r < rows; ++r) EXPECT_NEAR(lse[r], want_lse[r].item<double>(), 1e-5) << "row " << r;
  EXPECT_NEAR(y.to(at::kDouble).sum(1).sub(1).abs().max().item<double>(), 0.0, 1e-5);
}

// Scores of 2 groups × 5 queries against 8 keys (3 cached before the queries), as the attention
// core lays them out; reference: mask with −inf, softmax and its autograd backward in float64.
TEST(VecMath, CausalSoftmaxAndItsBackwardMatchMaskedSoftmaxInFloat64) {
  const std::int64_t groups = 2, queries = 5, keys = 8;
  const float scale = 0.125f;
  auto x = inputs(groups * queries * keys, 6.0).view({groups * queries, keys});
  auto dy = inputs(groups * queries * keys, 1.0).roll(7).view_as(x);
  auto qi = at::arange(queries, at::kLong).repeat({groups}).unsqueeze(1) + (keys - queries);
  auto masked = (at::arange(keys, at::kLong).unsqueeze(0) > qi);
  auto xd = x.to(at::kDouble).requires_grad_();
  auto want = at::softmax((xd * scale).masked_fill(masked, -INFINITY), 1);
  want.backward(dy.to(at::kDouble));

  auto y = at::empty_like(x), dx = at::empty_like(x);
  causal_softmax_forward(x.data_ptr<float>(), y.data_ptr<float>(), groups * queries, keys, queries, scale);
  causal_softmax_backward(y.data_ptr<float>(), dy.data_ptr<float>(), dx.data_ptr<float>(), groups * queries, keys,
                          queries, scale);
  expect_close(y, want.detach(), 1e-6, 1e-9);
  expect_close(dx, xd.grad(), 1e-5, 1e-8);
  EXPECT_TRUE(y.masked_select(masked).eq(0).all().item<bool>());
  EXPECT_TRUE(dx.masked_select(masked).eq(0).all().item<bool>());
}

}  // namespace
}  // namespace veil::runtime
