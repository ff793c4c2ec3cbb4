// The worker half and the remote executor: the same products as the local model, and a worker
// that sees only activations and gradients.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "designs/plain/remote_executor.h"
#include "designs/plain/worker.h"
#include "support/fixtures.h"
#include "veil/designs/registry.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace veil::designs::plain {
namespace {

struct Remote {
  std::vector<std::shared_ptr<transport::Service>> services;
  std::shared_ptr<transport::AuditTap> tap = std::make_shared<transport::AuditTap>();
  std::unique_ptr<model::CausalLM> model;
};

// The model at `path` with its blocks' projections on `shards` in-process workers.
Remote remote_model(const std::filesystem::path& path, int shards) {
  Remote r;
  auto files = model::read_model(path);
  const int n = static_cast<int>(files.config.num_layers);
  std::vector<transport::WorkerPool::Worker> ws;
  for (int i = 0; i < shards; ++i) {
    const int first = n * i / shards, last = n * (i + 1) / shards;
    auto svc = std::make_shared<transport::Service>("worker-" + std::to_string(i));
    svc->set_tap(r.tap);
    designs::install_worker("plain", *svc, {path, first, last, {}});
    ws.push_back({transport::connect_in_process(svc, transport::Peer::identified(transport::Role::kDataOwner, "test")), first, last});
    r.services.push_back(svc);
  }
  auto exec = std::make_shared<RemoteExecutor>(transport::WorkerPool(std::move(ws)), n,
                                               files.weights.linear.at({n, model::Proj::kLmHead}));
  r.model = model::build_model(files.config, files.weights.params, exec);
  return r;
}

void expect_same_model(const std::string& fixture, int shards) {
  const auto path = testing::fixture_dir(fixture);
  auto local = model::load_model(path);
  auto remote = remote_model(path, shards);
  const auto& cfg = local.model->config();
  auto lora_local = std::make_shared<model::LoraAdapters>(cfg, model::LoraConfig{}, 7);
  auto lora_remote = std::make_shared<model::LoraAdapters>(cfg, model::LoraConfig{}, 7);
  for (auto* l : {lora_local.get(), lora_remote.get()})  // non-zero B, so every LoRA leaf gets a gradient
    for (auto& [site, pair] : l->pairs()) {
      at::NoGradGuard g;
      pair.b.normal_(0, 0.02, at::make_generator<at::CPUGeneratorImpl>(site.layer * 31 + 5));
    }
  local.model->set_lora(lora_local);
  remote.model->set_lora(lora_remote);
  auto ids = at::randint(cfg.vocab_size, {2, 7}, at::kLong);
  auto y_local = local.model->forward(ids);
  auto y_remote = remote.model->forward(ids);
  ASSERT_EQ(y_local.sizes(), y_remote.sizes());
  EXPECT_TRUE(at::allclose(y_local, y_remote, 1e-5, 1e-5)) << (y_local - y_remote).abs().max().item<double>();
  y_local.pow(2).mean().backward();
  y_remote.pow(2).mean().backward();
  auto pl = lora_local->parameters(), pr = lora_remote->parameters();
  ASSERT_EQ(pl.size(), pr.size());
  for (std::size_t i = 0; i < pl.size(); ++i) {
    ASSERT_TRUE(pr[i].grad().defined()) << "LoRA parameter " << i << " got no gradient through the workers";
    EXPECT_TRUE(at::allclose(pl[i].grad(), pr[i].grad(), 1e-4, 1e-7))
        << i << ": " << (pl[i].grad() - pr[i].grad()).abs().max().item<double>();
  }
  // What the workers saw: only their ops, only floating-point activations and gradients, never a
  // token id and never the LM head's vocabulary-sized rows.
  int forwards = 0, backwards = 0;
  for (const auto& e : remote.tap->entries()) {
    if (e.direction != transport::Direction::kReceived) continue;
    forwards += e.message.op == kForwardOp;
    backwards += e.message.op == kBackwardOp;
    EXPECT_TRUE(e.message.op == kForwardOp || e.message.op == kBackwardOp) << e.message.op;
    EXPECT_LT(e.message.layer, cfg.num_layers);
    for (const auto& [name, t] : e.message.tensors) {
      EXPECT_TRUE(at::isFloatingType(t.scalar_type())) << name;
      if (cfg.vocab_size != 3 * cfg.hidden_size) {  // tiny-gpt2's vocabulary is as wide as its c_attn
        EXPECT_NE(t.size(-1), cfg.vocab_size) << name;
      }
    }
  }
  const auto groups = static_cast<int>(cfg.num_layers) * 4;
  EXPECT_EQ(forwards, groups);
  EXPECT_EQ(backwards, groups - 1);  // layer 0's q/k/v input (embeddings, norm) needs no gradient
}

TEST(PlainWorker, LlamaThroughWorkersEqualsTheLocalModel) { expect_same_model("tiny-llama3", 1); }
TEST(PlainWorker, Gpt2ThroughTwoWorkersEqualsTheLocalModel) { expect_same_model("tiny-gpt2", 2); }

TEST(PlainWorker, RejectsRequestsItCannotServe) {
  const auto path = testing::fixture_dir("tiny-llama3");
  auto svc = std::make_shared<transport::Service>("worker-0");
  designs::install_worker("plain", *svc, {path, 0, 1, {}});
  auto ep = transport::connect_in_process(svc, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  const auto cfg = model::read_model(path).config;
  auto expect_invalid = [&](transport::Message m, const std::string& needle) {
    try {
      (void)ep->call(std::move(m));
      ADD_FAILURE() << "accepted a request that should fail with '" << needle << "'";
    } catch (const transport::TransportError& e) {
      EXPECT_EQ(e.code(), transport::ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  transport::Message ok;
  ok.op = kForwardOp;
  ok.layer = 0;
  ok.ints = {static_cast<int>(model::Proj::kO)};
  ok.tensors["x"] = at::randn({1, 3, cfg.num_heads * cfg.head_dim});
  EXPECT_EQ(ep->call(ok).tensor("y0").sizes(), (std::vector<int64_t>{1, 3, cfg.hidden_size}));
  auto m = ok;
  m.layer = 1;
  expect_invalid(m, "not served by this worker");
  m = ok;
  m.tensors["x"] = at::randn({1, 3, 5});
  expect_invalid(m, "expects a floating-point x");
  m = ok;
  m.ints = {static_cast<int>(model::Proj::kLmHead)};
  expect_invalid(m, "unknown projection");
  m = ok;
  m.tensors.clear();
  expect_invalid(m, "lacks tensor 'x'");
  m = ok;
  m.op = kBackwardOp;
  m.tensors = {{"g0", at::randn({1, 3, 7})}};
  expect_invalid(m, "gradient 0");
}

TEST(PlainWorker, RejectsBadRangesAndOptions) {
  const auto path = testing::fixture_dir("tiny-llama3");
  transport::Service a("a"), b("b");
  EXPECT_THROW(designs::install_worker("plain", a, {path, 0, 99, {}}), std::invalid_argument);
  EXPECT_THROW(designs::install_worker("plain", b, {path, 0, -1, {{"colour", "blue"}}}), std::invalid_argument);
}

}  // namespace
}  // namespace veil::designs::plain
