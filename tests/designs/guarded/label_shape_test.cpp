// No label channel in shapes: two runs whose batches differ only in which and how many tokens
// carry a label (down to micro-batches with none) give the split server the same sequence of
// messages, each of the same shapes, dtypes and sizes.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "veil/train/design.h"

namespace veil {
namespace {
using namespace guarded_test;
using designs::guarded::open_split_session;
using designs::guarded::parse_split_options;

// What the server can see of a run apart from values: one line per message.
std::vector<std::string> shapes(const TappedServer& s) {
  std::vector<std::string> out;
  for (const auto& e : s.tap->entries()) {
    std::ostringstream line;
    line << (e.direction == transport::Direction::kReceived ? "in " : "out ") << e.message.op << " ints";
    for (auto i : e.message.ints) line << ' ' << i;
    for (const auto& [k, v] : e.message.meta) line << ' ' << k << '=' << v;
    for (const auto& [name, t] : e.message.tensors) line << ' ' << name << t.sizes() << t.scalar_type();
    line << " bytes " << e.message.payload_bytes();
    out.push_back(line.str());
  }
  return out;
}

// Three steps of two micro-batches (the last one [1, 20]: smaller than the run's shape), then an
// evaluation; `keep` decides which labels survive.
std::vector<std::string> run(const std::string& design, std::map<std::string, std::string> opts,
                             const std::function<at::Tensor(int, const at::Tensor&)>& keep) {
  auto cfg = base_config(std::move(opts));
  auto server = tapped_server(design);
  auto s = open_split_session(cfg, parse_split_options(design, cfg.design_options), server.endpoint);
  auto data = batches(6);
  data[5] = {data[5].input_ids.narrow(0, 0, 1).narrow(1, 0, 20).contiguous(),
             data[5].labels.narrow(0, 0, 1).narrow(1, 0, 20).contiguous()};
  for (int i = 0; i < 6; ++i) data[i].labels = keep(i, data[i].labels);
  train::OptimConfig oc;
  oc.lr = 3e-3;
  oc.total_steps = 3;
  train::Trainer trainer(s->model(), s->trainable(), oc);
  for (int i = 0; i < 3; ++i) (void)s->step(trainer, std::span<const train::MicroBatch>(data.data() + 2 * i, 2));
  (void)s->evaluate(std::span<const train::MicroBatch>(data.data() + 4, 2));
  for (const auto& e : server.tap->entries())
    for (const auto& [name, t] : e.message.tensors)
      if (name == "h" || name == "g" || name == "q") {
        EXPECT_EQ(t.sizes().vec(), (std::vector<std::int64_t>{2, 24, 192})) << e.message.op << " " << name;
      }
  return shapes(server);
}

void expect_label_blind(const std::string& design, const std::map<std::string, std::string>& opts) {
  auto all = run(design, opts, [](int, const at::Tensor& l) { return l; });
  // Only the last 3 positions of row 0 keep a label; micro-batches 1 and 4 have none at all.
  auto few = run(design, opts, [](int i, const at::Tensor& l) {
    auto out = at::full_like(l, -100);
    if (i != 1 && i != 4) out[0].narrow(0, l.size(1) - 3, 3).copy_(l[0].narrow(0, l.size(1) - 3, 3));
    return out;
  });
  ASSERT_EQ(all.size(), few.size()) << design << ": the server saw a different number of messages";
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], few[i]) << design << " message " << i;
  EXPECT_GT(all.size(), 12u);
}

TEST(SplitShapes, LabelsDoNotChangeWhatShapesTheServerSees) {
  expect_label_blind("split", {{"k", "1"}, {"m", "1"}, {"quant_bits", "8"}});
}

TEST(SplitShapes, GradfreeLabelsDoNotChangeWhatShapesTheServerSees) {
  expect_label_blind("gradfree", {{"k", "1"}, {"m", "1"}, {"zo_bottom", "1"}});
}

}  // namespace
}  // namespace veil
