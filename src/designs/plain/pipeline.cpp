#include "designs/plain/pipeline.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "veil/model/causal_lm.h"
#include "veil/train/loss.h"

namespace veil::designs::plain {

train::Trainer::Gradients micro_batch_gradients(model::CausalLM& model, std::span<const at::Tensor> params,
                                                std::span<const train::MicroBatch> micro, int in_flight) {
  return micro_batch_gradients(model, params, micro, in_flight, MicroBatchLoss{});
}

train::Trainer::Gradients micro_batch_gradients(model::CausalLM& model, std::span<const at::Tensor> params,
                                                std::span<const train::MicroBatch> micro, int in_flight,
                                                const MicroBatchLoss& how) {
  const decltype(how.loss) loss = how.loss ? how.loss : decltype(how.loss)(train::causal_lm_loss);
  const bool skip_empty = !how.backward_without_targets;
  train::Trainer::Gradients g;
  for (const auto& mb : micro) {
    g.targets += (mb.labels != -100).sum().item<std::int64_t>();
    g.tokens += mb.input_ids.numel();
  }
  const double denom = static_cast<double>(std::max<std::int64_t>(1, g.targets));
  std::vector<double> sums(micro.size(), 0.0);
  const auto threads = std::min<std::size_t>(micro.size(), static_cast<std::size_t>(std::max(1, in_flight)));
  if (threads < 2) {
    for (std::size_t i = 0; i < micro.size(); ++i) {
      auto l = loss(model, micro[i].input_ids, micro[i].labels);
      if (l.targets == 0 && skip_empty) continue;
      (l.sum / denom).backward();
      sums[i] = l.sum.item<double>();
    }
  } else {
    const std::vector<at::Tensor> inputs(params.begin(), params.end());
    std::vector<std::vector<at::Tensor>> grads(micro.size());
    auto run = [&](std::size_t i) {
      auto l = loss(model, micro[i].input_ids, micro[i].labels);
      if (l.targets == 0 && skip_empty) return;
      grads[i] = torch::autograd::grad({l.sum / denom}, inputs, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
      sums[i] = l.sum.item<double>();
    };
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errors(threads);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        try {
          for (std::size_t i; (i = next.fetch_add(1)) < micro.size();) run(i);
        } catch (...) {
          errors[t] = std::current_exception();
          next = micro.size();  // hand out no further micro-batches
        }
      });
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    // Accumulate as AccumulateGrad does for sequential backward() calls, in micro-batch order.
    at::NoGradGuard no_grad;
    for (const auto& gs : grads)
      for (std::size_t p = 0; p < gs.size(); ++p) {
        if (!gs[p].defined()) continue;
        auto& g = inputs[p].mutable_grad();
        if (!g.defined()) g = gs[p].clone();
        else g.add_(gs[p]);
      }
  }
  for (double s : sums) g.loss_sum += s;  // in micro-batch order, as Trainer::step sums
  return g;
}

}  // namespace veil::designs::plain
