// A toy design and a toy attack, registered from this file only: `--design toy` trains through
// run_finetune, its worker half installs on a Service, the evaluation reads its audit tap through
// its own observe() and reports its cost, and `--attacks toy-zeros` runs, with no edit elsewhere.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "support/shared_assets.h"
#include "veil/designs/plain/local_session.h"
#include "veil/designs/registry.h"
#include "veil/designs/spec.h"
#include "veil/eval/attacks/registry.h"
#include "veil/eval/evaluate.h"
#include "veil/model/causal_lm.h"
#include "veil/train/design.h"
#include "veil/train/finetune.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"
#include "veil/util/file_io.h"

namespace veil::designs {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// The toy: plain training, but every micro-batch's embedding output goes to a worker as a flat
// tensor "payload" with its shape in ints (which the generic tap reader cannot read).
class ToySession final : public train::DesignSession {
 public:
  explicit ToySession(const train::FinetuneConfig& cfg) : inner_(plain::open_local_session(strip(cfg))) {
    WorkerContext ctx;
    ctx.model = cfg.model;
    pool_ = open_workers("toy", cfg.parties, ctx, inner_->model().config().num_layers);
  }
  model::CausalLM& model() override { return inner_->model(); }
  std::shared_ptr<model::LoraAdapters> adapters() override { return inner_->adapters(); }
  train::StepStats step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) override {
    for (const auto& mb : micro) {
      at::NoGradGuard g;
      auto h = model().embed(mb.input_ids, 0);
      transport::Message m;
      m.op = "toy.look";
      m.ints = {static_cast<std::int32_t>(h.size(0)), static_cast<std::int32_t>(h.size(1))};
      m.tensors["payload"] = h.flatten().contiguous();
      (void)pool_.workers().front().endpoint->call(m);
      tokens_ += mb.input_ids.numel();
    }
    ++steps_;
    return trainer.step(micro);
  }
  DesignCost cost() const override {
    const auto t = pool_.stats();
    const double tokens = static_cast<double>(std::max<std::int64_t>(1, tokens_));
    DesignCost c;
    c.bytes_up_per_token = static_cast<double>(t.bytes_sent) / tokens;
    c.bytes_down_per_token = static_cast<double>(t.bytes_received) / tokens;
    c.round_trips_per_step = steps_ ? static_cast<double>(t.calls) / static_cast<double>(steps_) : 0.0;
    c.enclave_parameter_share = 0;
    return c;
  }

 private:
  static train::FinetuneConfig strip(train::FinetuneConfig cfg) {
    cfg.design_options.clear();
    return cfg;
  }
  std::unique_ptr<train::DesignSession> inner_;
  transport::WorkerPool pool_;
  std::int64_t tokens_ = 0, steps_ = 0;
};

Observation observe_toy(const std::vector<transport::TapEntry>& entries, std::int64_t hidden) {
  Observation o;
  std::vector<at::Tensor> hs;
  for (const auto& e : entries)
    if (e.direction == transport::Direction::kReceived && e.message.op == "toy.look")
      hs.push_back(e.message.tensors.at("payload").reshape({e.message.ints[0], e.message.ints[1], hidden}));
  if (!hs.empty()) o.activations.push_back({0, at::cat(hs, 0), {}, -1});
  o.notes["toy"] = "payloads reshaped by the toy's observe";
  return o;
}

void register_toy() {
  register_builtin_designs();
  DesignSpec s;
  s.name = "toy";
  s.summary = "test only: plain training that shows a worker its embedding outputs";
  s.options = {};
  s.open_session = [](const train::FinetuneConfig& cfg) { return std::make_unique<ToySession>(cfg); };
  s.install_worker = [](transport::Service& service, const WorkerContext&) {
    service.on("toy.look", transport::kWorkerCallers, [](const transport::Message&) { return transport::Message{}; });
  };
  s.observe = observe_toy;
  register_design_spec(std::move(s));
  eval::register_attack({"toy-zeros", "test only: guesses token 0 everywhere", [](const eval::AttackContext& c) {
                           eval::AttackResult r;
                           r.ids = at::zeros({c.view.hidden.size(0), c.view.hidden.size(1)}, at::kLong);
                           r.extra["toy"] = true;
                           return r;
                         }});
}

train::FinetuneConfig toy_run(const fs::path& out) {
  train::FinetuneConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.design = "toy";
  c.seq_len = 32;
  c.batch_size = 2;
  c.max_steps = 2;
  c.max_examples = 40;
  c.val_fraction = 0;
  c.progress = false;
  return c;
}

struct ToyDesign : ::testing::Test {
  void SetUp() override { register_toy(); }
};

TEST_F(ToyDesign, IsADesignForFinetuneAndReportsItsCost) {
  const auto names = train::available_designs();
  EXPECT_NE(std::find(names.begin(), names.end(), "toy"), names.end());
  auto out = testing::scratch_dir();
  auto r = train::run_finetune(toy_run(out));
  EXPECT_EQ(r.steps, 2);
  ASSERT_TRUE(r.cost.bytes_up_per_token.has_value());
  EXPECT_GT(*r.cost.bytes_up_per_token, 192 * 4 * 0.99);  // one float32 row per token, and framing
  EXPECT_DOUBLE_EQ(*r.cost.round_trips_per_step, 1.0);
  auto summary = json::parse(util::read_file(out / "summary.json"));
  EXPECT_EQ(summary.at("design_cost"), r.cost.to_json());
  EXPECT_TRUE(summary.at("design_cost").at("owner_flops_per_token").is_null());  // unknown stays unknown
}

TEST_F(ToyDesign, ItsWorkerInstallsOnAService) {
  auto service = std::make_shared<transport::Service>("worker-0");
  WorkerContext ctx;
  ctx.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  install_worker("toy", *service, ctx);
  auto ep = transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "t"));
  transport::Message info;
  info.op = "worker.info";
  EXPECT_EQ(ep->call(info).meta.at("design"), "toy");
  transport::Message look;
  look.op = "toy.look";
  EXPECT_NO_THROW((void)ep->call(look));
  const auto workers = worker_designs();
  EXPECT_NE(std::find(workers.begin(), workers.end(), "toy"), workers.end());
}

TEST_F(ToyDesign, TheEvaluationReadsItsTapThroughItsObserveAndRunsTheToyAttack) {
  auto dir = testing::scratch_dir();
  eval::EvaluateConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = dir;
  c.designs = {"toy"};
  c.attacks = {"nn", "toy-zeros"};
  c.steps = 1;
  c.batch_size = 2;
  c.seq_len = 32;
  c.max_examples = 30;
  c.attack_records = 2;
  c.attack_tokens = 16;
  c.progress = false;
  auto report = eval::run_evaluation(c);
  ASSERT_EQ(report["cells"].size(), 1u);
  const auto& cell = report["cells"][0];
  ASSERT_EQ(cell["status"], "ok") << cell.dump(2);
  const auto& privacy = cell["privacy"];
  EXPECT_FALSE(privacy["simulated"].get<bool>());
  EXPECT_EQ(privacy["layer"], 0);
  EXPECT_EQ(privacy["audit"]["toy"], "payloads reshaped by the toy's observe");
  EXPECT_GE(privacy["attacks"]["nn"]["token_accuracy"].get<double>(), 0.9) << privacy.dump(2);
  EXPECT_TRUE(privacy["attacks"]["toy-zeros"]["toy"].get<bool>());
  EXPECT_TRUE(privacy["attacks"]["toy-zeros"].contains("token_accuracy"));
  EXPECT_GT(cell["cost"]["bytes_per_token"].get<double>(), 0.0);
  EXPECT_EQ(cell["cost"]["enclave_parameter_share"].get<double>(), 0.0);
}

TEST_F(ToyDesign, AnUnknownAttackIsRefusedWithTheRegisteredOnes) {
  eval::EvaluateConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = testing::scratch_dir();
  c.attacks = {"telepathy"};
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("toy-zeros"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace veil::designs
