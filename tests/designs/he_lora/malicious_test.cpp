// he-lora against a worker that lies or is shared (issue 18): the data owner checks every product
// and plan mask (he::ProductCheck), every session has its own CRS seed and worker state, the
// worker's limits hold, and the LM head's shapes do not depend on the labels.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <regex>
#include <sstream>
#include <thread>

#include "designs/he_lora/audit_check.h"
#include "support/child_process.h"
#include "support/shared_assets.h"
#include "veil/designs/he_lora/executor.h"
#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/session.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/designs/registry.h"
#include "veil/he/serialization.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/train/finetune.h"
#include "veil/train/trainer.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace veil::designs::he_lora {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using veil::testing::Child;
using veil::testing::veil_binary;

// Each lie of the test-only he_lora_lying_worker (a tampering wrapper over the real worker
// handlers, served over --insecure loopback) against the real `veil finetune --design he-lora
// --workers`: the run fails with the check that caught it and the worker's address, every time.
TEST(HeLoraMaliciousWorker, EveryLieIsCaughtOverTheCli) {
  VEIL_REQUIRE_SHARED(assets);
  if (!fs::exists(VEIL_LYING_WORKER) || !fs::exists(veil_binary())) GTEST_SKIP() << "binaries not built";
  const auto model = assets / "models/stories260K-hf";
  const auto dir = veil::testing::scratch_dir();
  const std::pair<const char*, const char*> lies[] = {
      {"offset", "product check (Freivalds, exact)"},
      {"mask", "plan mask check: the mask of plan"},
      {"replay", "result check: the result is of plan"},
      {"wrap", "product check (Freivalds, exact)"},
  };
  // All four at once (each a liar and a finetune process): the test's wall time is one run's.
  std::vector<std::unique_ptr<Child>> liars, runs;
  std::vector<std::string> addresses;
  for (const auto& [mode, check] : lies)
    liars.push_back(std::make_unique<Child>(std::vector<std::string>{VEIL_LYING_WORKER, "--model", model.string(),
                                                                     "--mode", mode},
                                            dir / (std::string("liar-") + mode)));
  static const std::regex listening("listening on (\\S+:[0-9]+)");
  for (auto& liar : liars) {
    std::string address;
    for (int i = 0; i < 1500 && address.empty(); ++i) {
      std::smatch m;
      const auto text = liar->out();
      if (std::regex_search(text, m, listening)) address = m[1];
      else if (liar->wait(0ms)) break;
      else std::this_thread::sleep_for(20ms);
    }
    ASSERT_FALSE(address.empty()) << liar->err();
    addresses.push_back(address);
  }
  for (std::size_t i = 0; i < std::size(lies); ++i) {
    const std::string mode = lies[i].first;
    runs.push_back(std::make_unique<Child>(
        std::vector<std::string>{veil_binary().string(), "finetune", "--design", "he-lora", "--model", model.string(),
                                 "--data", (fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl").string(),
                                 "--out", (dir / ("out-" + mode)).string(), "--seq-len", "16", "--batch-size", "2",
                                 "--max-steps", "1", "--max-examples", "64", "--val-fraction", "0.02", "--seed", "3",
                                 "--workers", addresses[i], "--insecure", "--quiet"},
        dir / ("finetune-" + mode)));
  }
  for (std::size_t i = 0; i < std::size(lies); ++i) {
    const std::string mode = lies[i].first, check = lies[i].second;
    SCOPED_TRACE(mode);
    const auto status = runs[i]->wait(120s);
    ASSERT_TRUE(status) << "veil finetune did not finish";
    const std::string err = runs[i]->err();
    EXPECT_NE(*status, 0) << "the lie went unnoticed:\n" << err;
    EXPECT_NE(err.find(check), std::string::npos) << err;
    EXPECT_NE(err.find("worker " + addresses[i] + " failed the data owner's check"), std::string::npos) << err;
    EXPECT_NE(liars[i]->err().find("liar:"), std::string::npos) << "the liar never lied:\n" << liars[i]->err();
    EXPECT_FALSE(fs::exists(dir / ("out-" + mode) / "adapter_model.safetensors"));
    liars[i]->signal(SIGTERM);
    EXPECT_TRUE(liars[i]->wait(30s));
  }
}

std::shared_ptr<model::ModelFiles> stories(const fs::path& assets) {
  return std::make_shared<model::ModelFiles>(model::read_model(assets / "models/stories260K-hf"));
}

transport::WorkerPool pool_of(const std::shared_ptr<transport::Service>& service, int layers) {
  std::vector<transport::WorkerPool::Worker> ws{{transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "test")), 0, layers}};
  return transport::WorkerPool(std::move(ws));
}

// Two data owners' sessions on one worker: each drew its own CRS seed (so its own plan masks), and
// the worker keeps a state per session (one session's he.setup does not drop the other's plans).
TEST(HeLoraSessions, TwoSessionsOnOneWorkerUseTheirOwnCrsSeeds) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = stories(assets);
  const int L = static_cast<int>(files->config.num_layers);
  auto service = std::make_shared<transport::Service>("worker");
  auto tap = std::make_shared<transport::AuditTap>();
  service->set_tap(tap);
  install_worker(*service, files, 0, L);
  const auto parms = parameters_for(files->config, 8, 8);
  const auto bp = model::block_projections(files->config.family);
  at::Tensor x = at::randn({1, 3, files->config.hidden_size});
  HeLoraExecutor a(files->config, pool_of(service, L), parms, *files);
  const auto ya = a.linear(0, bp.attn_in, x);
  HeLoraExecutor b(files->config, pool_of(service, L), parms, *files);
  const auto yb = b.linear(0, bp.attn_in, x);
  const auto ya2 = a.linear(0, bp.attn_in, x);  // a's plans survived b's he.setup
  EXPECT_NE(a.parameters().crs_seed, b.parameters().crs_seed);
  EXPECT_NE(a.parameters().crs_seed, he::Parameters::for_matmul(8, 8, 512).crs_seed) << "the public default seed";
  for (std::size_t i = 0; i < ya.size(); ++i) {
    EXPECT_TRUE(at::equal(ya[i], yb[i]));
    EXPECT_TRUE(at::equal(ya[i], ya2[i]));
  }
  std::vector<he::Parameters> setups;
  for (const auto& e : tap->entries())
    if (e.message.op == "he.setup" && e.direction == transport::Direction::kReceived) {
      const auto& blob = e.message.blob("parameters");
      setups.push_back(he::load_parameters(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size())));
    }
  ASSERT_EQ(setups.size(), 2u);
  EXPECT_NE(setups[0].crs_seed, setups[1].crs_seed);
  // Every plan mask the worker sent is under its session's seed.
  check_worker_audit(tap->entries());
}

transport::Message setup_request(const he::Parameters& p, std::string session) {
  transport::Message m;
  m.op = "he.setup";
  auto b = he::save(p);
  m.blobs["parameters"] = std::string(b.begin(), b.end());
  m.blobs["session"] = std::move(session);
  return m;
}

// The worker's bounds on what a peer supplies: a ring dimension above kMaxPolyDegree (even at 128
// bits), parameters above the 128-bit table, a malformed session id, a group that is not one of the
// model's, and more than kMaxSessions sessions busy at once.
TEST(HeLoraLimits, WorkerRefusesParametersAndCountsAboveItsBounds) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = stories(assets);
  const int L = static_cast<int>(files->config.num_layers);
  auto service = std::make_shared<transport::Service>("worker");
  install_worker(*service, files, 0, L);
  auto ep = transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  const std::string sid(kSessionIdBytes, 'a');
  auto big = he::Parameters::for_matmul(8, 8, 512, 16384);
  ASSERT_EQ(big.poly_degree, 16384u);
  ASSERT_EQ(security_bits(big), 128);
  EXPECT_THROW((void)ep->call(setup_request(big, sid)), transport::TransportError);
  const auto weak = he::Parameters::custom(2048, 55, 8, 8, 512, true);  // above the table for N = 2048
  EXPECT_THROW((void)ep->call(setup_request(weak, sid)), transport::TransportError);
  const auto ok = parameters_for(files->config, 8, 8);
  EXPECT_THROW((void)ep->call(setup_request(ok, "short")), transport::TransportError);
  EXPECT_NO_THROW((void)ep->call(setup_request(ok, sid)));
  EXPECT_NO_THROW((void)ep->call(setup_request(ok, sid)));  // a retry of the same setup
  auto other = ok;
  other.crs_seed[0] ^= 1;
  EXPECT_THROW((void)ep->call(setup_request(other, sid)), transport::TransportError);  // same id, other parameters
  transport::Message q;
  q.op = "he.plan_info";
  q.layer = 0;
  q.ints = {0, 0, 0, 0, 0, 0};  // {q, q, q, q}: not a group of the model
  q.blobs["session"] = sid;
  EXPECT_THROW((void)ep->call(q), transport::TransportError);
  // Sessions: idle ones are evicted (least recently used first), so a ninth session fits.
  for (std::size_t i = 0; i < kMaxSessions + 2; ++i)
    EXPECT_NO_THROW((void)ep->call(setup_request(ok, std::string(kSessionIdBytes, static_cast<char>('b' + i)))));
  q.ints = {0, 0, 0, 1, 2};
  EXPECT_THROW((void)ep->call(q), transport::TransportError) << "session 'a' was the least recently used";
}

// Issue 17: a worker's session belongs to the identity that opened it. A second data owner of the
// same CA that learned the session id is refused (permission denied) for every op naming it —
// he.setup, he.plan_info, he.close — and the owner's session is untouched.
TEST(HeLoraSessions, AnotherDataOwnerCannotUseOrCloseASession) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = stories(assets);
  const int L = static_cast<int>(files->config.num_layers);
  auto service = std::make_shared<transport::Service>("worker");
  install_worker(*service, files, 0, L);
  auto owner = transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  auto intruder =
      transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "other"));
  const std::string sid(kSessionIdBytes, 's');
  const auto ok = parameters_for(files->config, 8, 8);
  ASSERT_NO_THROW((void)owner->call(setup_request(ok, sid)));
  transport::Message q;
  q.op = "he.plan_info";
  q.layer = 0;
  q.ints = {0, static_cast<std::int32_t>(he::Layout::kColumns), 0, 1, 2};  // direction, layout, group
  q.blobs["session"] = sid;
  transport::Message close;
  close.op = "he.close";
  close.blobs["session"] = sid;
  for (const transport::Message& m : {setup_request(ok, sid), q, close}) {
    try {
      (void)intruder->call(m);
      ADD_FAILURE() << m.op << " admitted another data owner into the session";
    } catch (const transport::TransportError& e) {
      EXPECT_EQ(e.code(), transport::ErrorCode::kPermissionDenied) << m.op << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("data-owner/other"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW((void)owner->call(q)) << "the intruder's he.close must not have closed the owner's session";
  EXPECT_NO_THROW((void)owner->call(close));
}

// The data owner's bound on the parameter sets a worker proposes (each costs a client and a CRS
// cache): a worker answering every plan_info with yet another valid set is refused once the sets
// would exceed 64 or eight full-size CRS caches, with an error saying so.
TEST(HeLoraLimits, DataOwnerRefusesEndlessParameterSets) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = stories(assets);
  const int L = static_cast<int>(files->config.num_layers);
  auto inner = std::make_shared<transport::Service>("worker");
  install_worker(*inner, files, 0, L);
  auto inner_ep = transport::connect_in_process(inner, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  auto proxy = std::make_shared<transport::Service>("proxy");
  for (const char* op : {"he.setup", "he.close", "he.forward", "he.backward"})
    proxy->on(op, transport::kWorkerCallers, [inner_ep](const transport::Message& m) { return inner_ep->call(m); });
  auto calls = std::make_shared<std::atomic<int>>(0);
  proxy->on("he.plan_info", transport::kWorkerCallers, [inner_ep, calls](const transport::Message& m) {
    transport::Message r = inner_ep->call(m);
    const std::string& blob = r.blobs.at("s0");
    he::Parameters p = he::load_parameters(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size()));
    p.weight_l1 = p.weight_l1_bound() - static_cast<std::uint64_t>(++*calls);  // a smaller bound: still valid
    auto b = he::save(p);
    r.blobs["s0"] = std::string(b.begin(), b.end());
    return r;
  });
  HeLoraExecutor exec(files->config, pool_of(proxy, L), parameters_for(files->config, 8, 8), *files);
  const auto bp = model::block_projections(files->config.family);
  at::Tensor x = at::randn({1, 3, files->config.hidden_size});
  std::string last;
  for (int i = 0; i < 70 && last.find("parameter sets") == std::string::npos; ++i) {
    try {
      (void)exec.linear(0, bp.attn_in, x);
      ADD_FAILURE() << "a mask under other parameters was accepted";
    } catch (const he::VerificationError& e) {
      last = e.what();
    }
  }
  EXPECT_NE(last.find("proposed more than 64 parameter sets"), std::string::npos) << last;
  EXPECT_LE(calls->load(), 66);
}

// Concurrent sessions hammering one worker (scripts/asan.sh runs this under AddressSanitizer):
// sessions set up, multiply forward and backward, and close while others do the same; before
// issue 18 any he.setup cleared the plans another session's multiply was using.
TEST(HeLoraSessions, ConcurrentSessionsHammerOneWorker) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = stories(assets);
  const int L = static_cast<int>(files->config.num_layers);
  auto service = std::make_shared<transport::Service>("worker");
  install_worker(*service, files, 0, L);
  const auto bp = model::block_projections(files->config.family);
  at::Tensor x = at::randn({2, 5, files->config.hidden_size});
  std::vector<at::Tensor> want;
  {
    HeLoraExecutor e(files->config, pool_of(service, L), parameters_for(files->config, 8, 8), *files);
    want = e.linear(1, bp.attn_in, x);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int round = 0; round < 3; ++round) {
          const auto parms = parameters_for(files->config, t % 2 == 0 ? 8 : 10, 8);
          HeLoraExecutor e(files->config, pool_of(service, L), parms, *files);
          for (int l = 0; l < L; ++l) {
            auto xs = x.clone().requires_grad_(true);
            auto y = e.linear(l, bp.attn_in, xs);
            at::Tensor loss = y[0].sum() + y[1].pow(2).sum();
            loss.backward();
            if (l == 1 && t % 2 == 0 && !at::equal(y[0], want[0])) ++failures;
          }
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// The LM head on the worker: two runs whose batches differ only in how many tokens carry a label
// (all of them, one, none) show the worker the same calls, ops, layers, ints and blob sizes.
TEST(HeLoraAudit, HeadShapesDoNotDependOnLabels) {
  VEIL_REQUIRE_SHARED(assets);
  train::FinetuneConfig cfg;
  cfg.model = assets / "models/stories260K-hf";
  cfg.design = "he-lora";
  cfg.seed = 3;
  cfg.optim.lr = 5e-3;
  auto ids = at::randint(1, 500, {2, 12}, at::kLong);
  auto run = [&](const at::Tensor& labels) {
    HeLoraSession s(cfg);
    train::Trainer trainer(s.model(), s.trainable(), cfg.optim);
    train::MicroBatch mb;
    mb.input_ids = ids;
    mb.labels = labels;
    (void)s.step(trainer, std::span<const train::MicroBatch>(&mb, 1));
    (void)s.evaluate(std::span<const train::MicroBatch>(&mb, 1));
    return s.worker_taps().at(0)->entries();
  };
  at::Tensor all = at::roll(ids, -1, 1);
  at::Tensor one = at::full_like(ids, -100);
  one.index_put_({0, 5}, 7);
  at::Tensor none = at::full_like(ids, -100);
  const auto a = run(all), b = run(one), c = run(none);
  auto shape = [](const transport::TapEntry& e) {
    std::ostringstream s;
    s << e.message.op << " " << static_cast<int>(e.direction) << " layer " << e.message.layer << " ints";
    for (int v : e.message.ints) s << " " << v;
    for (const auto& [name, blob] : e.message.blobs) s << " " << name << ":" << blob.size();
    s << " payload " << e.message.payload_bytes();
    return s.str();
  };
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), c.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(shape(a[i]), shape(b[i])) << i;
    EXPECT_EQ(shape(a[i]), shape(c[i])) << i;
  }
}

}  // namespace
}  // namespace veil::designs::he_lora
