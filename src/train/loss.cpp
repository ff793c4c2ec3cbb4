#include "veil/train/loss.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "veil/model/causal_lm.h"
#include "veil/model/linear_executor.h"
#include "veil/runtime/vec_math.h"
#include "veil/util/check.h"

namespace veil::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Logits of at most this many elements exist at a time in the fused head (128 MB of float: one
// chunk for a 256-token sequence at Llama-3's vocabulary). Each chunk reads all of W twice (its
// two GEMMs), so smaller chunks cost memory traffic: 65-row chunks made the head's GEMMs read the
// 1 GB Llama-3.2-1B head eight times per step instead of two.
constexpr std::int64_t kChunkElements = std::int64_t{32} << 20;

// Σ cross-entropy(h·Wᵀ, targets) over rows, in chunks of rows: each chunk's logits become its
// softmax in place, then its input gradient (softmax − onehot)·W right away, so no [N, vocab]
// logits, log-probabilities or logit gradients are ever materialised. The backward only scales the
// stored input gradient. W is a frozen base weight (no gradient).
// One logits buffer per thread, kept between calls: a fresh [rows, vocab] block is larger than
// glibc's largest mmap threshold (32 MB), so allocating it per step maps and page-faults (and the
// kernel zeroes) 51 MB for GPT-2 and 128 MB for Llama-3 on every call; measured as the largest
// non-GEMM cost of a GPT-2 step. Per thread, because pipelined micro-batches run in threads.
at::Tensor logits_workspace(std::int64_t elements, const at::TensorOptions& options) {
  thread_local at::Tensor buffer;
  if (!buffer.defined() || buffer.numel() < elements || buffer.dtype() != options.dtype())
    buffer = at::empty({elements}, options);
  return buffer;
}

// Σ cross-entropy(h·Wᵀ, targets) over rows, in chunks of rows: each chunk's logits become its
// softmax in place, then its input gradient (softmax − onehot)·W right away, so no [N, vocab]
// logits, log-probabilities or logit gradients are ever materialised, and no chunk-sized
// temporary either (softmax and log-sum-exp in the buffer, by one fused kernel for float). The
// backward only scales the stored input gradient. W is a frozen base weight (no gradient).
struct FusedHeadCrossEntropy : public torch::autograd::Function<FusedHeadCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& w, const at::Tensor& targets,
                            bool need_grad) {
    const auto n = h.size(0), vocab = w.size(0);
    const auto rows = std::min(n, std::max<std::int64_t>(1, kChunkElements / vocab));
    at::Tensor dh = need_grad ? at::empty_like(h) : at::Tensor();
    at::Tensor buffer = logits_workspace(rows * vocab, h.options());
    double total = 0;
    std::vector<double> lse(rows);
    for (std::int64_t r = 0; r < n; r += rows) {
      const auto m = std::min(rows, n - r);
      auto hc = h.narrow(0, r, m);
      auto tc = targets.narrow(0, r, m).unsqueeze(1);
      auto logits = buffer.narrow(0, 0, m * vocab).view({m, vocab});
      at::mm_out(logits, hc, w.t());                         // [m, V]
      auto target_logit = logits.gather(1, tc);              // [m, 1]
      if (logits.scalar_type() == at::kFloat) {
        // softmax in place and each row's log-sum-exp, in one fused kernel (three passes)
        runtime::softmax_rows_inplace(logits.data_ptr<float>(), m, vocab, lse.data());
        for (std::int64_t i = 0; i < m; ++i) total += lse[i];
        total -= target_logit.sum().item<double>();
      } else {
        auto max = std::get<0>(logits.max(1, /*keepdim=*/true));
        logits.sub_(max).exp_();                               // exp(l − max)
        auto sum = logits.sum(1, /*keepdim=*/true);
        total += (sum.log() + max - target_logit).sum().item<double>();
        logits.div_(sum);                                      // softmax
      }
      if (need_grad) {
        logits.scatter_(1, tc, logits.gather(1, tc) - 1.0);        // − onehot
        auto out = dh.narrow(0, r, m);
        at::mm_out(out, logits, w);
      }
    }
    if (need_grad) ctx->save_for_backward({dh});
    return at::scalar_tensor(total, h.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto dh = ctx->get_saved_variables()[0];
    return {dh * grads[0], at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The fused path applies when the executor holds the LM head in this process as a frozen plain
// weight, and the head has no LoRA branch.
at::Tensor fused_head_weight(model::CausalLM& model) {
  const model::LinearSite head{static_cast<int>(model.config().num_layers), model::Proj::kLmHead};
  if (model.lora() && model.lora()->has(head)) return {};
  return model.executor().local_frozen_weight(head);
}

}  // namespace

LossSum causal_lm_loss(model::CausalLM& model, const at::Tensor& input_ids, const at::Tensor& labels) {
  VEIL_CHECK_ARG(input_ids.sizes() == labels.sizes(), "labels ", labels.sizes(), " do not match inputs ",
                 input_ids.sizes());
  at::Tensor h = model.hidden_states(input_ids);
  auto flat_labels = labels.reshape({-1});
  auto idx = (flat_labels != -100).nonzero().squeeze(1);
  LossSum out;
  out.targets = idx.size(0);
  if (out.targets == 0) {
    out.sum = (h.sum() * 0.0);  // keeps the graph valid
    return out;
  }
  auto hs = h.reshape({-1, h.size(-1)}).index_select(0, idx);
  auto targets = flat_labels.index_select(0, idx);
  VEIL_CHECK_ARG(targets.min().item<std::int64_t>() >= 0 && targets.max().item<std::int64_t>() < model.config().vocab_size,
                 "label out of range [0, ", model.config().vocab_size, ")");
  if (auto w = fused_head_weight(model); w.defined()) {
    out.sum = FusedHeadCrossEntropy::apply(hs, w, targets, hs.requires_grad() && at::GradMode::is_enabled());
    return out;
  }
  auto logits = model.lm_head(hs);
  out.sum = at::cross_entropy_loss(logits, targets, {}, at::Reduction::Sum);
  return out;
}

}  // namespace veil::train
