#include "veil/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/fixtures.h"
#include "support/shared_assets.h"
#include "veil/model/kv_cache.h"
#include "veil/model/loader.h"
#include "veil/train/loss.h"

namespace veil::train {
namespace {

using model::Proj;

// Runs the products through the executor interface's explicit forward/backward pair, the path
// every remote design takes, with the same weights as the plain executor.
class ExplicitExecutor final : public model::LinearExecutor {
 public:
  explicit ExplicitExecutor(model::LinearWeights w) : w_(std::move(w)) {}
  int backward_calls = 0;

 protected:
  std::vector<at::Tensor> forward(int layer, std::span<const Proj> projs, const at::Tensor& x) override {
    std::vector<at::Tensor> ys;
    for (Proj p : projs) ys.push_back(at::matmul(x, w_.at({layer, p}).t()));
    return ys;
  }
  at::Tensor backward(int layer, std::span<const Proj> projs, std::span<const at::Tensor> g) override {
    ++backward_calls;
    at::Tensor gx;
    for (std::size_t i = 0; i < projs.size(); ++i) {
      auto part = at::matmul(g[i], w_.at({layer, projs[i]}));
      gx = gx.defined() ? gx + part : part;
    }
    return gx;
  }

 private:
  model::LinearWeights w_;
};

MicroBatch batch_from(std::vector<std::int64_t> seq, std::int64_t rows = 1) {
  auto t = at::tensor(seq, at::kLong).unsqueeze(0).repeat({rows, 1});
  MicroBatch mb;
  mb.input_ids = t.narrow(1, 0, t.size(1) - 1).clone();
  mb.labels = t.narrow(1, 1, t.size(1) - 1).clone();
  return mb;
}

std::shared_ptr<model::LoraAdapters> lora_for(const model::ModelConfig& c) {
  model::LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  auto a = std::make_shared<model::LoraAdapters>(c, lc, 7);
  // Non-zero B so that every gradient path is exercised (seeded: runs must be comparable).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (auto& [site, p] : a->pairs()) {
    at::NoGradGuard g;
    p.b.normal_(0, 0.05, gen);
  }
  return a;
}

TEST(LinearExecutor, ExplicitForwardBackwardMatchesNativeAutograd) {
  for (const char* fixture : {"tiny-llama3", "tiny-gpt2"}) {
    auto files = model::read_model(testing::fixture_dir(fixture));
    auto plain_exec = std::make_shared<model::PlainExecutor>(files.weights.linear);
    auto explicit_exec = std::make_shared<ExplicitExecutor>(files.weights.linear);
    auto a = model::build_model(files.config, files.weights.params, plain_exec);
    auto b = model::build_model(files.config, files.weights.params, explicit_exec);
    auto lora = lora_for(files.config);
    auto batch = batch_from({1, 5, 9, 33, 2, 7, 64, 12, 3});
    a->set_lora(lora);
    auto la = causal_lm_loss(*a, batch.input_ids, batch.labels).sum;
    la.backward();
    std::vector<at::Tensor> ga;
    for (auto& p : lora->parameters()) ga.push_back(p.grad().clone()), p.mutable_grad().reset();
    b->set_lora(lora);
    auto lb = causal_lm_loss(*b, batch.input_ids, batch.labels).sum;
    lb.backward();
    EXPECT_NEAR(la.item<double>(), lb.item<double>(), 1e-5) << fixture;
    auto params = lora->parameters();
    for (std::size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(at::allclose(ga[i], params[i].grad(), 1e-4, 1e-6)) << fixture << " parameter " << i;
    EXPECT_GT(explicit_exec->backward_calls, 0);
    // So the two runs compared the fused head + cross-entropy (plain) with the unfused one.
    const model::LinearSite head{static_cast<int>(files.config.num_layers), Proj::kLmHead};
    EXPECT_TRUE(plain_exec->local_frozen_weight(head).defined()) << fixture;
    EXPECT_FALSE(explicit_exec->local_frozen_weight(head).defined()) << fixture;
  }
}

TEST(Loss, MatchesFloat64CrossEntropy) {
  auto m = model::load_model(testing::fixture_dir("tiny-llama3"));
  auto batch = batch_from({3, 14, 15, 92, 65, 35});
  batch.labels[0][1] = -100;  // one ignored position
  at::NoGradGuard g;
  auto l = causal_lm_loss(*m.model, batch.input_ids, batch.labels);
  auto logits = m.model->forward(batch.input_ids)[0].to(at::kDouble);
  auto logp = logits.log_softmax(-1);
  double want = 0;
  int n = 0;
  for (int t = 0; t < batch.labels.size(1); ++t) {
    auto y = batch.labels[0][t].item<std::int64_t>();
    if (y == -100) continue;
    want -= logp[t][y].item<double>();
    ++n;
  }
  EXPECT_EQ(l.targets, n);
  EXPECT_NEAR(l.sum.item<double>(), want, 1e-4);
}

TEST(KvCache, IncrementalDecodingEqualsFullForward) {
  for (const char* fixture : {"tiny-llama3-scaled", "tiny-gpt2"}) {
    auto m = model::load_model(testing::fixture_dir(fixture));
    at::NoGradGuard g;
    std::vector<std::int64_t> ids{4, 8, 15, 16, 23, 42, 7, 1};
    auto full = m.model->forward(at::tensor(ids, at::kLong).unsqueeze(0))[0];
    model::KvCache cache(m.model->config(), 1, 16);
    auto first = m.model->forward(at::tensor(std::vector<std::int64_t>(ids.begin(), ids.begin() + 3), at::kLong).unsqueeze(0), &cache)[0];
    EXPECT_TRUE(at::allclose(first, full.narrow(0, 0, 3), 1e-4, 1e-5)) << fixture;
    for (std::size_t t = 3; t < ids.size(); ++t) {
      auto step = m.model->forward(at::full({1, 1}, ids[t], at::kLong), &cache)[0][0];
      EXPECT_TRUE(at::allclose(step, full[t], 1e-4, 1e-5)) << fixture << " position " << t;
    }
    EXPECT_EQ(cache.length(), static_cast<std::int64_t>(ids.size()));
  }
}

OptimConfig optim(std::int64_t steps) {
  OptimConfig c;
  c.lr = 5e-3;
  c.total_steps = steps;
  c.warmup_steps = 2;
  return c;
}

TEST(Trainer, LoraFineTuningLowersTheLoss) {
  auto m = model::load_model(testing::fixture_dir("tiny-llama3"));
  auto lora = lora_for(m.model->config());
  m.model->set_lora(lora);
  Trainer t(*m.model, lora->parameters(), optim(30));
  std::vector<MicroBatch> mb{batch_from({1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 2}, 2)};
  double first = t.step(mb).loss, last = 0;
  for (int i = 1; i < 30; ++i) last = t.step(mb).loss;
  EXPECT_LT(last, 0.5 * first);
  EXPECT_EQ(t.steps_done(), 30);
}

TEST(Trainer, AccumulationEqualsOneLargeBatch) {
  auto run = [](bool accumulate) {
    auto m = model::load_model(testing::fixture_dir("tiny-gpt2"));
    auto lora = lora_for(m.model->config());
    m.model->set_lora(lora);
    Trainer t(*m.model, lora->parameters(), optim(3));
    auto x = batch_from({1, 2, 3, 4, 5, 6, 7});
    auto y = batch_from({9, 8, 7, 6, 5, 4, 3});
    std::vector<MicroBatch> micro;
    if (accumulate) {
      micro = {x, y};
    } else {
      MicroBatch both{at::cat({x.input_ids, y.input_ids}), at::cat({x.labels, y.labels})};
      micro = {both};
    }
    auto s = t.step(micro);
    return std::make_pair(s.loss, lora->parameters());
  };
  auto [la, pa] = run(true);
  auto [lb, pb] = run(false);
  EXPECT_NEAR(la, lb, 1e-5);
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::allclose(pa[i], pb[i], 1e-5, 1e-6));
}

TEST(Trainer, ResumeContinuesExactly) {
  auto dir = testing::scratch_dir();
  auto batches = std::vector<MicroBatch>{batch_from({1, 5, 7, 11, 13, 17, 19, 23}, 2)};
  auto make = [] {
    auto m = model::load_model(testing::fixture_dir("tiny-llama3"));
    auto lora = lora_for(m.model->config());
    m.model->set_lora(lora);
    return std::make_pair(std::move(m), lora);
  };
  auto [m1, l1] = make();
  Trainer straight(*m1.model, l1->parameters(), optim(6));
  for (int i = 0; i < 6; ++i) straight.step(batches);

  auto [m2, l2] = make();
  {
    Trainer first(*m2.model, l2->parameters(), optim(6));
    for (int i = 0; i < 3; ++i) first.step(batches);
    first.save_state(dir);
  }
  Trainer resumed(*m2.model, l2->parameters(), optim(6));
  resumed.load_state(dir);
  EXPECT_EQ(resumed.steps_done(), 3);
  for (int i = 0; i < 3; ++i) resumed.step(batches);
  auto p1 = l1->parameters(), p2 = l2->parameters();
  for (std::size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(at::equal(p1[i], p2[i])) << "parameter " << i;
}

TEST(Schedule, WarmupThenCosine) {
  OptimConfig c;
  c.lr = 1.0;
  c.warmup_steps = 4;
  c.total_steps = 14;
  c.min_lr_ratio = 0.0;
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(c, 3), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 4), 1.0);
  EXPECT_NEAR(lr_at(c, 9), 0.5, 1e-12);
  EXPECT_NEAR(lr_at(c, 14), 0.0, 1e-12);
}

TEST(Trainer, RejectsCorruptState) {
  auto dir = testing::scratch_dir();
  std::ofstream(dir / "optimizer.pt") << "not an archive";
  auto m = model::load_model(testing::fixture_dir("tiny-llama3"));
  auto lora = lora_for(m.model->config());
  Trainer t(*m.model, lora->parameters(), optim(2));
  EXPECT_THROW(t.load_state(dir), std::invalid_argument);
}

}  // namespace
}  // namespace veil::train
