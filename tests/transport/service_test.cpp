#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace veil::transport {
namespace {

// The data owner, as an in-process caller.
Peer owner() { return Peer::identified(Role::kDataOwner, "test"); }

std::shared_ptr<Service> doubling_service(int* calls) {
  auto s = std::make_shared<Service>("worker-0");
  s->on("test.double", kWorkerCallers, [calls](const Message& m) {
    ++*calls;
    Message r;
    r.tensors["y"] = m.tensor("x") * 2;
    return r;
  });
  s->on("test.fail", kWorkerCallers, [](const Message&) -> Message { throw std::runtime_error("disk on fire"); });
  return s;
}

TEST(Service, DispatchesAndCountsBytesBothWays) {
  int calls = 0;
  auto svc = doubling_service(&calls);
  auto ep = connect_in_process(svc, owner());
  Message m;
  m.op = "test.double";
  m.tensors["x"] = at::arange(6, at::kFloat).reshape({2, 3});
  auto r = ep->call(m);
  EXPECT_TRUE(at::equal(r.tensor("y"), m.tensors["x"] * 2));
  EXPECT_EQ(r.op, "test.double");
  EXPECT_EQ(ep->stats().calls, 1u);
  EXPECT_GT(ep->stats().bytes_sent, 24u);  // payload plus the encoded header
  EXPECT_EQ(ep->stats().bytes_received, ep->stats().bytes_sent);
  EXPECT_EQ(ep->peer(), "in-process:worker-0");
}

TEST(Service, PartiesShareNoMemory) {
  int calls = 0;
  auto svc = doubling_service(&calls);
  auto tap = std::make_shared<AuditTap>();
  svc->set_tap(tap);
  auto ep = connect_in_process(svc, owner());
  Message m;
  m.op = "test.double";
  m.tensors["x"] = at::ones({4});
  (void)ep->call(m);
  m.tensors["x"].add_(1);  // the caller changes its tensor afterwards
  ASSERT_EQ(tap->size(), 2u);
  EXPECT_TRUE(at::equal(tap->entries()[0].message.tensor("x"), at::ones({4})));
  EXPECT_EQ(tap->entries()[0].direction, Direction::kReceived);
  EXPECT_EQ(tap->entries()[1].direction, Direction::kSent);
}

TEST(Service, SharedHandoverPassesTensorsWithoutCopyAndCountsTheWiresBytes) {
  const void* seen = nullptr;
  bool contiguous = false;
  auto svc = std::make_shared<Service>("worker-0");
  svc->on("test.peek", kWorkerCallers, [&](const Message& q) {
    seen = q.tensor("x").data_ptr();
    contiguous = q.tensor("t").is_contiguous();
    Message r;
    r.tensors["y"] = q.tensor("x") * 2;
    return r;
  });
  Message m;
  m.op = "test.peek";
  m.tensors["x"] = at::arange(12, at::kFloat);
  m.tensors["t"] = at::arange(6, at::kFloat).reshape({2, 3}).t();  // not contiguous
  auto wire = connect_in_process(svc, owner());
  auto r1 = wire->call(m);
  EXPECT_NE(seen, m.tensors["x"].data_ptr());  // the codec's copy
  auto shared = connect_in_process(svc, owner(), Handover::kShared);
  auto r2 = shared->call(m);
  EXPECT_EQ(seen, m.tensors["x"].data_ptr());  // the caller's own tensor
  EXPECT_TRUE(contiguous);
  EXPECT_TRUE(at::equal(r1.tensor("y"), r2.tensor("y")));
  EXPECT_EQ(shared->stats().bytes_sent, wire->stats().bytes_sent);
  EXPECT_EQ(shared->stats().bytes_received, wire->stats().bytes_received);
}

TEST(Service, RetriedRequestIdIsAppliedOnce) {
  int calls = 0;
  auto svc = doubling_service(&calls);
  Message m;
  m.op = "test.double";
  m.request_id = "req-7";
  m.tensors["x"] = at::ones({2});
  auto a = svc->dispatch(m, owner());
  auto b = svc->dispatch(m, owner());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(at::equal(a.tensor("y"), b.tensor("y")));
}

TEST(Service, ErrorsBecomeStatusesNamingTheOp) {
  int calls = 0;
  auto svc = doubling_service(&calls);
  Message bad;
  bad.op = "test.double";  // lacks tensor x
  try {
    (void)svc->dispatch(bad, owner());
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("lacks tensor 'x'"), std::string::npos);
  }
  bad.op = "test.fail";
  try {
    (void)svc->dispatch(bad, owner());
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("disk on fire"), std::string::npos);
  }
  bad.op = "nope";
  EXPECT_THROW((void)svc->dispatch(bad, owner()), TransportError);
  EXPECT_THROW(svc->on("test.fail", kWorkerCallers, [](const Message& m) { return m; }), std::logic_error);
}

// --allow-peer: with the callers pinned, a data owner of the same CA and role but not on the list is
// refused for every op before its handler runs; the pinned one still gets through.
TEST(Service, PinnedPeersRefuseEveryOtherCallerForEveryOp) {
  int calls = 0;
  auto svc = doubling_service(&calls);
  svc->allow_only({"veil://data-owner/test"});
  Message m;
  m.tensors["x"] = at::ones({2});
  for (const std::string op : {"test.double", "test.fail"}) {
    m.op = op;
    for (const Peer& intruder : {Peer::identified(Role::kDataOwner, "other"), Peer::identified(Role::kEnclave, "test"),
                                 Peer::unauthenticated(), Peer::without_identity("subject CN=x")}) {
      try {
        (void)svc->dispatch(m, intruder);
        FAIL() << op << " admitted " << intruder.to_string();
      } catch (const TransportError& e) {
        EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied) << e.what();
        EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_EQ(calls, 0);
  m.op = "test.double";
  (void)svc->dispatch(m, owner());
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(svc->allow_only({"data-owner/test"}), std::invalid_argument);
  EXPECT_THROW(svc->allow_only({"veil://nobody/test"}), std::invalid_argument);
  svc->allow_only({});  // empty: any caller of an admitted role again
  m.request_id.clear();
  (void)svc->dispatch(m, Peer::identified(Role::kDataOwner, "other"));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace veil::transport
