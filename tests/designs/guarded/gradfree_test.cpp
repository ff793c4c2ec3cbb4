// `gradfree`: no gradient crosses the wire in either direction (read from the server's audit
// tap), yet the top adapters train by backprop and the bottom ones by zeroth-order estimates.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "veil/model/lora.h"

namespace veil {
namespace {
using namespace guarded_test;
using designs::guarded::open_split_session;
using designs::guarded::parse_split_options;

// Ops and tensor names the server received or sent.
struct View {
  int forwards = 0, backwards = 0, grad_requests = 0, grad_tensors = 0;
};
View server_view(const TappedServer& s) {
  View v;
  for (const auto& e : s.tap->entries()) {
    const auto& m = e.message;
    if (e.direction == transport::Direction::kReceived && m.op == "split.forward") {
      ++v.forwards;
      v.grad_requests += m.ints.size() == 3 && m.ints[2] != 0;
    }
    v.backwards += m.op == "split.backward";
    v.grad_tensors += m.tensors.count("g");
  }
  return v;
}

void run_steps(train::DesignSession& s, int steps) {
  train::OptimConfig oc;
  oc.lr = 3e-3;
  oc.total_steps = steps;
  train::Trainer trainer(s.model(), s.trainable(), oc);
  auto data = batches(steps);
  for (int i = 0; i < steps; ++i) (void)s.step(trainer, std::span<const train::MicroBatch>(data.data() + i, 1));
}

TEST(Gradfree, NeverSendsOrReceivesAGradient) {
  auto cfg = base_config({{"k", "2"}, {"m", "2"}, {"zo_bottom", "1"}, {"zo_lr", "0.05"}});
  auto server = tapped_server("gradfree");
  auto s = open_split_session(cfg, parse_split_options("gradfree", cfg.design_options), server.endpoint);
  std::map<model::LinearSite, at::Tensor> before;
  for (const auto& [site, p] : s->adapters()->pairs()) before[site] = p.a.detach().clone() + 0 * p.b.sum().detach();
  auto top_b_before = s->adapters()->pairs().rbegin()->second.b.detach().clone();
  run_steps(*s, 3);
  auto v = server_view(server);
  EXPECT_EQ(v.backwards, 0);
  EXPECT_EQ(v.grad_tensors, 0);
  EXPECT_EQ(v.grad_requests, 0);
  EXPECT_EQ(v.forwards, 3 * 3);  // per step: the training forward and SPSA's two
  EXPECT_FALSE(server.service->handles("split.backward"));

  // Both ends trained: the top by backprop (B moved off zero), the bottom by the ZO estimate.
  EXPECT_GT(s->adapters()->pairs().rbegin()->second.b.abs().max().item<double>(), 0.0);
  const auto& [bottom_site, bottom] = *s->adapters()->pairs().begin();
  ASSERT_LT(bottom_site.layer, 2);
  EXPECT_FALSE(at::equal(bottom.a, before.at(bottom_site)));
  (void)top_b_before;

  // The same check fails for `split`, which does send gradients.
  auto split_server = tapped_server("split");
  auto split = open_split_session(cfg, parse_split_options("split", {{"k", "2"}, {"m", "2"}}), split_server.endpoint);
  run_steps(*split, 1);
  EXPECT_GT(server_view(split_server).grad_tensors, 0);
}

TEST(Gradfree, ServerRefusesToKeepAGraph) {
  auto server = tapped_server("gradfree");
  transport::Message open;
  open.op = "split.open";
  open.ints = {1, 5, 0, 4, 0};
  (void)server.endpoint->call(open);
  transport::Message fwd;
  fwd.op = "split.forward";
  fwd.ints = {0, 0, 1};
  fwd.tensors["h"] = at::zeros({1, 4, 192});
  EXPECT_THROW((void)server.endpoint->call(fwd), transport::TransportError);
}

TEST(Gradfree, WithoutZoOnlyTheTopAdaptersExist) {
  auto cfg = base_config({{"k", "1"}, {"m", "2"}});
  auto server = tapped_server("gradfree");
  auto s = open_split_session(cfg, parse_split_options("gradfree", cfg.design_options), server.endpoint);
  for (const auto& [site, p] : s->adapters()->pairs()) EXPECT_GE(site.layer, 4);
  run_steps(*s, 2);
  EXPECT_EQ(server_view(server).forwards, 2);
}

}  // namespace
}  // namespace veil
