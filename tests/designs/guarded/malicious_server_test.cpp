// Lying peers on both sides of `split`: a server whose replies have the wrong shape, dtype,
// encoding or non-finite values gets one clear error naming it (no crash, no NaN loss); a client
// that sends counts beyond the server's limits gets an error reply.
#include <gtest/gtest.h>

#include <limits>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "veil/train/design.h"

namespace veil {
namespace {
using namespace guarded_test;
using designs::guarded::open_split_session;
using designs::guarded::parse_split_options;

// A server that opens honestly and then answers every forward with `lie(h)`.
std::shared_ptr<transport::Endpoint> lying_server(std::function<void(transport::Message&, const at::Tensor&)> lie) {
  auto service = std::make_shared<transport::Service>("liar");
  service->on("split.open", transport::kWorkerCallers, [](const transport::Message& req) {
    transport::Message r;
    r.ints = {req.ints.at(0), req.ints.at(1)};
    return r;
  });
  service->on("split.forward", transport::kWorkerCallers, [lie](const transport::Message& req) {
    transport::Message r;
    lie(r, req.tensor("h"));
    return r;
  });
  service->on("split.step", transport::kWorkerCallers, [](const transport::Message&) { return transport::Message{}; });
  return transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
}

void expect_caught(const std::string& what, std::function<void(transport::Message&, const at::Tensor&)> lie) {
  auto cfg = base_config({{"k", "1"}, {"m", "1"}});
  auto s = open_split_session(cfg, parse_split_options("split", cfg.design_options), lying_server(std::move(lie)));
  try {
    auto e = s->evaluate(batches(1));
    ADD_FAILURE() << what << ": accepted (loss " << e.loss << ")";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("split server at"), std::string::npos) << what << ": " << e.what();
  }
}

TEST(MaliciousServer, WrongRepliesAreCaughtWithAClearError) {
  expect_caught("one position more", [](transport::Message& r, const at::Tensor& h) {
    r.tensors["h"] = at::zeros({h.size(0), h.size(1) + 1, h.size(2)});
  });
  expect_caught("a row fewer", [](transport::Message& r, const at::Tensor& h) { r.tensors["h"] = h.narrow(0, 0, 1).clone(); });
  expect_caught("f64", [](transport::Message& r, const at::Tensor& h) { r.tensors["h"] = h.to(at::kDouble); });
  expect_caught("wrong width", [](transport::Message& r, const at::Tensor& h) { r.tensors["h"] = h.narrow(2, 0, 10).clone(); });
  expect_caught("nothing", [](transport::Message&, const at::Tensor&) {});
  expect_caught("NaN", [](transport::Message& r, const at::Tensor& h) {
    auto y = h.clone();
    y[0][0][0] = std::numeric_limits<float>::quiet_NaN();
    r.tensors["h"] = y;
  });
  expect_caught("infinity", [](transport::Message& r, const at::Tensor& h) {
    r.tensors["h"] = at::full_like(h, std::numeric_limits<float>::infinity());
  });
  expect_caught("quantized, scale of another shape", [](transport::Message& r, const at::Tensor& h) {
    r.tensors["q"] = at::zeros(h.sizes(), at::kChar);
    r.tensors["scale"] = at::ones({h.size(0), 1, 1});
  });
  expect_caught("q4 with an unused nibble", [](transport::Message& r, const at::Tensor& h) {
    r.tensors["q4"] = at::zeros({h.size(0), h.size(1), h.size(2) / 2}, at::kByte);
    r.tensors["scale"] = at::ones({h.size(0), h.size(1), 1});
  });
}

TEST(MaliciousServer, ServerOpenThatAnswersAnotherCutIsRefused) {
  auto service = std::make_shared<transport::Service>("liar");
  service->on("split.open", transport::kWorkerCallers, [](const transport::Message&) {
    transport::Message r;
    r.ints = {0, 6};
    return r;
  });
  auto cfg = base_config({{"k", "1"}, {"m", "1"}});
  EXPECT_THROW((void)open_split_session(cfg, parse_split_options("split", cfg.design_options),
                                        transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "test"))),
               std::runtime_error);
}

// A client beyond the limits: each request gets an error reply, the server keeps serving.
TEST(MaliciousClient, CountsBeyondTheServersLimitsAreRefused) {
  auto server = tapped_server("split");
  auto call = [&](transport::Message m) { return server.endpoint->call(std::move(m)); };
  auto open = [](std::vector<std::int32_t> ints, std::map<std::string, std::string> meta = {{"mix", "none"}}) {
    transport::Message m;
    m.op = "split.open";
    m.ints = std::move(ints);
    m.meta = std::move(meta);
    return m;
  };
  EXPECT_THROW((void)call(open({1, 5, 2, 4, 0})), transport::TransportError);        // server_lora 2
  EXPECT_THROW((void)call(open({1, 5, 1, 100000, 0})), transport::TransportError);   // rank
  EXPECT_THROW((void)call(open({1, 5, 0, 0, 1})), transport::TransportError);        // quant_bits 1
  EXPECT_THROW((void)call(open({1, 5, 0, -1, 0})), transport::TransportError);
  EXPECT_THROW((void)call(open({0, 5, 0, 0, 0})), transport::TransportError);        // the cut
  EXPECT_THROW((void)call(open({1, 5, 1, 4, 0}, {{"lora_alpha", "abc"}, {"lora_dropout", "0"}, {"server_lr", "0.001"}})),
               transport::TransportError);
  EXPECT_THROW((void)call(open({1, 5, 1, 4, 0}, {{"lora_alpha", "16"}, {"lora_dropout", "0"}, {"server_lr", "nan"}})),
               transport::TransportError);
  EXPECT_THROW((void)call(open({1, 5, 1, 4, 0}, {{"lora_alpha", "16"}, {"lora_dropout", "0"}})),
               transport::TransportError);  // no server_lr
  (void)call(open({1, 5, 0, 0, 0}));

  auto forward = [](at::Tensor h, std::int32_t mb, std::int32_t want_grad) {
    transport::Message m;
    m.op = "split.forward";
    m.ints = {mb, 0, want_grad};
    m.tensors["h"] = std::move(h);
    return m;
  };
  EXPECT_THROW((void)call(forward(at::zeros({257, 1, 192}), 0, 0)), transport::TransportError);    // rows
  EXPECT_THROW((void)call(forward(at::zeros({1, 5000, 192}), 0, 0)), transport::TransportError);   // positions
  EXPECT_THROW((void)call(forward(at::zeros({2, 4, 192}), -1, 0)), transport::TransportError);     // id
  EXPECT_THROW((void)call(forward(at::zeros({2, 4, 192}), 0, 7)), transport::TransportError);      // want_grad
  EXPECT_THROW((void)call(forward(at::full({2, 4, 192}, std::numeric_limits<float>::quiet_NaN()), 0, 0)),
               transport::TransportError);
  EXPECT_THROW((void)call(forward(at::zeros({2, 4}), 0, 0)), transport::TransportError);
  // Graphs kept for a backward are bounded: a client that never backwards cannot grow them.
  int kept = 0;
  for (int i = 0; i < 100; ++i) {
    try {
      (void)call(forward(at::zeros({1, 2, 192}), i, 1));
      ++kept;
    } catch (const transport::TransportError&) {
      break;
    }
  }
  EXPECT_EQ(kept, 64);
  transport::Message step;
  step.op = "split.step";
  step.meta["lr"] = "1";
  EXPECT_THROW((void)call(step), transport::TransportError);  // split.step carries nothing
  step.meta.clear();
  (void)call(step);
  (void)call(forward(at::zeros({1, 2, 192}), 0, 1));  // serving again after the step dropped the graphs
}

}  // namespace
}  // namespace veil
