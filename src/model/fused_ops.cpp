// The blocks' elementwise steps as fused kernels (veil/runtime/vec_math.h) with their own
// autograd: one pass over the tensor forward and one backward, instead of ATen's chain of ops and
// their temporaries (SwiGLU: silu, mul forward; silu_backward and two muls backward; attention:
// scale, causal mask, softmax, and the backward over only the visible keys).
#include <limits>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "veil/model/blocks.h"
#include "veil/runtime/vec_math.h"
#include "fused_ops.h"

namespace veil::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The kernels take contiguous float rows; a [.., cols] tensor whose last dimension is contiguous
// (a column slice of a fused projection's output, say) is walked row by row without a copy.
bool kernel_ok(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat && t.device().is_cpu() && t.dim() >= 1 && t.stride(-1) == 1 &&
         t.numel() > 0;
}

// Calls f(row pointers..., cols) for each row of same-shaped tensors viewed as [rows, cols].
template <typename F, typename... T>
void for_rows(F&& f, const T&... ts) {
  const auto& first = std::get<0>(std::forward_as_tuple(ts...));
  const auto cols = first.size(-1), rows = first.numel() / cols;
  auto as_rows = [&](const at::Tensor& t) { return t.dim() == 2 ? t : t.reshape({rows, cols}); };
  auto views = std::make_tuple(as_rows(ts)...);
  for (std::int64_t r = 0; r < rows; ++r)
    std::apply([&](const auto&... v) { f(v.template data_ptr<float>() + r * v.stride(0)..., cols); }, views);
}

struct GeluTanh : public torch::autograd::Function<GeluTanh> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    auto y = at::empty(x.sizes(), x.options());
    for_rows([](float* xp, float* yp, std::int64_t n) { runtime::gelu_tanh_forward(xp, yp, n); }, x, y);
    ctx->save_for_backward({x});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto dy = grads[0].contiguous();
    auto dx = at::empty(x.sizes(), x.options());
    for_rows([](float* xp, float* dyp, float* dxp, std::int64_t n) { runtime::gelu_tanh_backward(xp, dyp, dxp, n); },
             x, dy, dx);
    return {dx};
  }
};

struct SwiGlu : public torch::autograd::Function<SwiGlu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    auto y = at::empty(gate.sizes(), gate.options());
    for_rows([](float* g, float* u, float* yp, std::int64_t n) { runtime::swiglu_forward(g, u, yp, n); }, gate, up, y);
    ctx->save_for_backward({gate, up});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dy = grads[0].contiguous();
    auto dg = at::empty(saved[0].sizes(), saved[0].options());
    auto du = at::empty(saved[0].sizes(), saved[0].options());
    for_rows([](float* g, float* u, float* d, float* dgp, float* dup,
                std::int64_t n) { runtime::swiglu_backward(g, u, d, dgp, dup, n); },
             saved[0], saved[1], dy, dg, du);
    return {dg, du};
  }
};

struct CausalSoftmax : public torch::autograd::Function<CausalSoftmax> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& scores, std::int64_t queries, double scale) {
    auto y = at::empty(scores.sizes(), scores.options());
    const auto cols = scores.size(-1), rows = scores.numel() / cols;
    runtime::causal_softmax_forward(scores.data_ptr<float>(), y.data_ptr<float>(), rows, cols, queries,
                                    static_cast<float>(scale));
    ctx->save_for_backward({y});
    ctx->saved_data["queries"] = queries;
    ctx->saved_data["scale"] = scale;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto y = ctx->get_saved_variables()[0];
    const auto dy = grads[0].contiguous();
    auto dx = at::empty(y.sizes(), y.options());
    const auto cols = y.size(-1), rows = y.numel() / cols;
    runtime::causal_softmax_backward(y.data_ptr<float>(), dy.data_ptr<float>(), dx.data_ptr<float>(), rows, cols,
                                     ctx->saved_data["queries"].toInt(),
                                     static_cast<float>(ctx->saved_data["scale"].toDouble()));
    return {dx, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor detail::causal_softmax(const at::Tensor& scores, std::int64_t queries, double scale) {
  const auto keys = scores.size(-1);
  if (scores.scalar_type() == at::kFloat && scores.device().is_cpu() && scores.is_contiguous() && scores.numel() > 0 &&
      queries <= keys && (scores.numel() / keys) % queries == 0)
    return CausalSoftmax::apply(scores, queries, scale);
  // ATen: query i of the last `queries` positions sees keys 0 .. keys − queries + i.
  auto qi = at::arange(queries, at::kLong).unsqueeze(1) + (keys - queries);
  auto mask = at::arange(keys, at::kLong).unsqueeze(0) > qi;  // [queries, keys]
  auto rows = scores.view({-1, queries, keys});
  return at::softmax((rows * scale).masked_fill(mask, -std::numeric_limits<double>::infinity()), -1).view(scores.sizes());
}

at::Tensor gelu_tanh(const at::Tensor& x) {
  if (!kernel_ok(x)) return at::gelu(x, "tanh");
  return GeluTanh::apply(x);
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if (!kernel_ok(gate) || !kernel_ok(up) || gate.sizes() != up.sizes()) return at::silu(gate) * up;
  return SwiGlu::apply(gate, up);
}

}  // namespace veil::model
