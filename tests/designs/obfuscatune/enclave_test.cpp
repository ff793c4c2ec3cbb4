// The enclave against the plain model: the same losses, gradients and adapters at κ = 1; the
// adapter works on the plaintext model; greedy generation with a KV cache matches; a corrupting
// worker is caught by Freivalds' check; the parameter share of a GPT-2-XL shape.
#include "veil/designs/obfuscatune/enclave.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "designs/obfuscatune/obfuscatune_test_util.h"
#include "support/shared_assets.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/presets.h"
#include "veil/train/loss.h"
#include "veil/train/trainer.h"

namespace veil::designs::obfuscatune {
namespace {

using testing::clone;
using testing::fixture;
using testing::honest_worker;
using testing::seeded_lora;

std::vector<train::MicroBatch> batches(const model::ModelConfig& cfg, int n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  std::vector<train::MicroBatch> out;
  for (int i = 0; i < n; ++i) {
    at::Tensor ids = at::randint(cfg.vocab_size, {2, 13}, gen, at::kLong);
    out.push_back({ids.narrow(1, 0, 12).clone(), ids.narrow(1, 1, 12).clone()});
  }
  return out;
}

struct Pair {
  model::LoadedModel plain;
  std::shared_ptr<model::LoraAdapters> plain_lora;
  std::unique_ptr<ObfuscatuneEnclave> enclave;
  testing::LocalWorker worker;
};

Pair make_twins(const std::string& fixture_name, std::map<std::string, std::string> opts) {
  Pair p;
  auto files = model::read_model(fixture(fixture_name));
  p.plain = model::load_model(fixture(fixture_name));
  p.plain_lora = seeded_lora(files.config);
  p.plain.model->set_lora(p.plain_lora);
  p.worker = honest_worker(static_cast<int>(files.config.num_layers));
  auto cfg = files.config;
  p.enclave = std::make_unique<ObfuscatuneEnclave>(std::move(files), ObfuscatuneOptions::parse(opts), p.worker.pool,
                                                   clone(*p.plain_lora, cfg));
  return p;
}

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

TEST(ObfuscatuneEnclave, TrainsLikePlainAtKappaOne) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"}) {
    for (auto opts : std::vector<std::map<std::string, std::string>>{
             {},
             {{"variant", "full"}, {"matrix", "orthogonal"}},
             {{"variant", "full"}, {"matrix", "hadamard"}},
             {{"variant", "paper"}, {"freivalds", "1"}},
             {{"variant", "matched"}, {"freivalds", "1"}},
             {{"variant", "matched"}, {"matrix", "orthogonal"}},
             {{"variant", "matched"}, {"mlp", "full"}}}) {
      auto p = make_twins(fx, opts);
      const auto& cfg = p.plain.model->config();
      train::OptimConfig oc;
      oc.lr = 1e-3;
      oc.total_steps = 3;
      train::Trainer tp(*p.plain.model, p.plain_lora->parameters(), oc);
      train::Trainer te(p.enclave->model(), p.enclave->adapters()->parameters(), oc);
      auto data = batches(cfg, 3);
      for (int s = 0; s < 3; ++s) {
        std::vector<train::MicroBatch> micro{data[s]};
        auto a = tp.step(micro), b = te.step(micro);
        EXPECT_NEAR(a.loss, b.loss, 1e-5 * a.loss) << fx << " step " << s;
        EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-4 * a.grad_norm) << fx << " step " << s;
      }
      auto pa = p.plain_lora->parameters(), pb = p.enclave->adapters()->parameters();
      ASSERT_EQ(pa.size(), pb.size());
      double d = 0;
      for (std::size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
      EXPECT_LT(d, 1e-5) << fx << " adapter after 3 steps";
      if (opts.count("freivalds")) {
        EXPECT_GT(p.enclave->executor().stats().freivalds_checks, 0);
      }
    }
  }
}

TEST(ObfuscatuneEnclave, GradientsThroughObfuscatedLayersMatchPlain) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"})
    for (const char* variant : {"matched", "full"}) {
      auto p = make_twins(fx, {{"variant", variant}});
      auto data = batches(p.plain.model->config(), 1);
      p.plain.model->set_training(true);
      p.enclave->model().set_training(true);
      auto la = train::causal_lm_loss(*p.plain.model, data[0].input_ids, data[0].labels).sum;
      auto lb = train::causal_lm_loss(p.enclave->model(), data[0].input_ids, data[0].labels).sum;
      la.backward();
      lb.backward();
      auto pa = p.plain_lora->parameters(), pb = p.enclave->adapters()->parameters();
      for (std::size_t i = 0; i < pa.size(); ++i)
        EXPECT_LT(max_rel(pb[i].grad(), pa[i].grad()), 1e-4) << fx << " " << variant << " param " << i;
    }
}

// LoRA dropout masks plaintext coordinates in the matched variant too (the enclave restores the
// obfuscated inputs of o/down first): with one dropout seed both models draw the same masks.
TEST(ObfuscatuneEnclave, MatchedVariantKeepsLoraDropoutInPlaintextCoordinates) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"}) {
    auto p = make_twins(fx, {{"variant", "matched"}});
    const auto& cfg = p.plain.model->config();
    model::LoraConfig lc = p.plain_lora->config();
    lc.dropout = 0.25;
    std::map<model::LinearSite, model::LoraPair> wa, wb;
    for (const auto& [site, pr] : p.plain_lora->pairs()) wa[site] = wb[site] = {pr.a.detach().clone(), pr.b.detach().clone()};
    auto la = std::make_shared<model::LoraAdapters>(cfg, lc, wa);
    auto lb = std::make_shared<model::LoraAdapters>(cfg, lc, wb);
    p.plain.model->set_lora(la);
    p.enclave->set_adapters(lb);
    p.plain.model->set_training(true);
    p.enclave->model().set_training(true);
    auto data = batches(cfg, 1);
    at::manual_seed(3);
    at::Tensor a = p.plain.model->forward(data[0].input_ids);
    at::manual_seed(3);
    at::Tensor b = p.enclave->model().forward(data[0].input_ids);
    EXPECT_LT(max_rel(b.detach(), a.detach()), 1e-5) << fx;
    p.enclave->model().set_training(false);  // the masks did something
    EXPECT_GT(max_rel(p.enclave->model().forward(data[0].input_ids).detach(), b.detach()), 1e-4) << fx;
  }
}

TEST(ObfuscatuneEnclave, ExportedAdapterGivesTheSameOutputsOnThePlainModel) {
  const std::vector<std::pair<const char*, std::map<std::string, std::string>>> cases{
      {"tiny-gpt2", {{"variant", "full"}, {"matrix", "hadamard"}}},
      {"tiny-gpt2", {{"variant", "matched"}}},
      {"tiny-llama3", {{"variant", "matched"}}}};
  for (const auto& [fx, opts] : cases) {
    auto p = make_twins(fx, opts);
    train::OptimConfig oc;
    oc.lr = 1e-2;
    oc.total_steps = 2;
    train::Trainer te(p.enclave->model(), p.enclave->adapters()->parameters(), oc);
    auto data = batches(p.plain.model->config(), 2);
    for (const auto& b : data) (void)te.step(std::span<const train::MicroBatch>(&b, 1));
    auto dir = veil::testing::scratch_dir() / "adapter";
    lora::save_peft_adapter(dir, p.plain.model->config(), *p.enclave->adapters());
    auto fresh = model::load_model(fixture(fx));
    fresh.model->set_lora(lora::load_peft_adapter(dir, fresh.model->config()));
    at::NoGradGuard g;
    at::Tensor want = p.enclave->model().forward(data[0].input_ids);
    at::Tensor got = fresh.model->forward(data[0].input_ids);
    EXPECT_LT(max_rel(got, want), 1e-5) << fx << " " << opts.at("variant");
    // ... and the adapter changed the model (the comparison is not vacuous).
    auto base = model::load_model(fixture(fx));
    EXPECT_GT(max_rel(base.model->forward(data[0].input_ids), want), 1e-3) << fx;
  }
}

TEST(ObfuscatuneEnclave, GreedyGenerationWithKvCacheEqualsPlain) {
  VEIL_REQUIRE_SHARED(shared);
  const auto dir = shared / "models/stories260K-hf";
  auto plain = model::load_model(dir);
  auto files = model::read_model(dir);
  const int layers = static_cast<int>(files.config.num_layers);
  for (auto opts : std::vector<std::map<std::string, std::string>>{{{"variant", "matched"}},
                                                                   {{"variant", "full"}, {"matrix", "kronecker"}},
                                                                   {{"variant", "full"}, {"matrix", "orthogonal"}},
                                                                   {{"variant", "full"}, {"matrix", "hadamard"}}}) {
    auto worker = honest_worker(layers);
    ObfuscatuneEnclave enclave(model::read_model(dir), ObfuscatuneOptions::parse(opts), worker.pool, nullptr);
    const std::string matrix = opts["variant"] + " " + (opts.count("matrix") ? opts["matrix"] : "kronecker");
    model::GenerationConfig gc;
    gc.max_new_tokens = 40;
    const std::vector<std::int64_t> prompt{1, 403, 407, 261, 378};
    auto want = model::generate(*plain.model, prompt, gc);
    auto got = enclave.generate(prompt, gc);
    EXPECT_EQ(got, want) << matrix;
    EXPECT_EQ(want.size(), 40u);
  }
}

TEST(ObfuscatuneEnclave, CorruptWorkerIsCaughtByFreivalds) {
  auto files = model::read_model(fixture("tiny-llama3"));
  const int layers = static_cast<int>(files.config.num_layers);
  auto data = batches(files.config, 1);
  for (const char* op : {"obfuscatune.forward", "obfuscatune.backward"}) {
    auto evil = testing::corrupt_worker(layers, op, 0.5f);
    ObfuscatuneEnclave enclave(model::read_model(fixture("tiny-llama3")),
                               ObfuscatuneOptions::parse({{"freivalds", "1"}}), evil.pool,
                               seeded_lora(files.config));
    enclave.model().set_training(true);
    try {
      auto l = train::causal_lm_loss(enclave.model(), data[0].input_ids, data[0].labels).sum;
      l.backward();
      ADD_FAILURE() << "a corrupted " << op << " went unnoticed";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("failed the Freivalds check"), std::string::npos) << e.what();
    }
  }
  // Without checks the same corruption silently changes the result.
  auto evil = testing::corrupt_worker(layers, "obfuscatune.forward", 0.5f);
  auto honest = honest_worker(layers);
  ObfuscatuneEnclave a(model::read_model(fixture("tiny-llama3")), {}, evil.pool, nullptr);
  ObfuscatuneEnclave b(model::read_model(fixture("tiny-llama3")), {}, honest.pool, nullptr);
  at::NoGradGuard g;
  EXPECT_GT(max_rel(a.model().forward(data[0].input_ids), b.model().forward(data[0].input_ids)), 1e-4);
}

TEST(ObfuscatuneEnclave, ErrorGrowsWithConditionNumber) {
  auto plain = model::load_model(fixture("tiny-llama3"));
  const auto& cfg = plain.model->config();
  auto data = batches(cfg, 1);
  at::NoGradGuard g;
  at::Tensor want = plain.model->forward(data[0].input_ids);
  auto err = [&](std::map<std::string, std::string> opts) {
    auto worker = honest_worker(static_cast<int>(cfg.num_layers));
    ObfuscatuneEnclave e(model::read_model(fixture("tiny-llama3")), ObfuscatuneOptions::parse(opts), worker.pool,
                         nullptr);
    return max_rel(e.model().forward(data[0].input_ids), want);
  };
  const double e1 = err({}), e4 = err({{"kappa", "10000"}});
  EXPECT_LT(e1, 1e-5);
  EXPECT_GT(e4, 10 * e1);
}

TEST(ObfuscatuneEnclave, ParameterShareOfGpt2XlIsAtMostFivePointFivePercent) {
  const model::ModelConfig c = model::gpt2_xl();
  auto s = enclave_parameter_share(c);
  EXPECT_NEAR(s.total / 1e9, 1.558, 0.002);
  EXPECT_LE(s.share(), 0.055);
  EXPECT_GT(s.share(), 0.05);
  EXPECT_EQ(s.enclave + s.worker, s.total);
}

TEST(ObfuscatuneEnclave, WorkerRejectsMalformedCalls) {
  auto w = honest_worker(2);
  transport::Message q;
  q.op = "obfuscatune.forward";
  q.layer = 5;
  q.ints = {0};
  q.tensors["x"] = at::zeros({1, 4});
  EXPECT_THROW((void)w.pool.for_layer(0).call(q), transport::TransportError);
  q.layer = 0;  // nothing loaded yet
  EXPECT_THROW((void)w.pool.for_layer(0).call(q), transport::TransportError);
  q.op = "obfuscatune.load";
  q.tensors = {{"w", at::zeros({3, 4}, at::kDouble)}};
  EXPECT_THROW((void)w.pool.for_layer(0).call(q), transport::TransportError);
}

}  // namespace
}  // namespace veil::designs::obfuscatune
