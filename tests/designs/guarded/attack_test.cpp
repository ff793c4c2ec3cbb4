// A split server that tries to rebuild the client's adapters: it has the public base model and
// everything it received (its audit tap). It rebuilds the client's initial LoRA from every seed it
// saw, then replays the client's first optimizer step on its bottom blocks (from the gradients
// the server itself returned, the tokens — given to it here, which makes it stronger than a real
// one — and the learning rate) and compares the replayed activation with the one the client
// sends at the next step. With the client's secret the same attack succeeds, so the test fails
// whenever the secret (or a seed it derives from) reaches the server.
#include <gtest/gtest.h>

#include <charconv>
#include <set>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "designs/guarded/client_secret.h"
#include "designs/guarded/harness.h"
#include "support/shared_assets.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/train/design.h"
#include "veil/transport/audit_dir.h"
#include "veil/util/file_io.h"

namespace veil {
namespace {
using namespace guarded_test;
using designs::guarded::open_split_session;
using designs::guarded::parse_split_options;

constexpr int kBottom = 2;
constexpr double kLr = 3e-3;

std::vector<transport::Message> messages(const TappedServer& s, transport::Direction dir, const std::string& op) {
  std::vector<transport::Message> out;
  for (const auto& e : s.tap->entries())
    if (e.direction == dir && e.message.op == op) out.push_back(e.message);
  return out;
}

// Every number the server was sent: candidate seeds.
std::set<std::uint64_t> numbers_seen(const TappedServer& s) {
  std::set<std::uint64_t> out = {0, 1, 42};  // public defaults, tried too
  for (const auto& e : s.tap->entries()) {
    if (e.direction != transport::Direction::kReceived) continue;
    for (auto i : e.message.ints)
      if (i >= 0) out.insert(static_cast<std::uint64_t>(i));
    for (const auto& [k, v] : e.message.meta) {
      std::uint64_t n = 0;
      if (auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n); ec == std::errc() && p == v.data() + v.size())
        out.insert(n);
    }
  }
  return out;
}

// The activation after the bottom blocks, on the public model with `lora`.
at::Tensor bottom(model::CausalLM& m, const at::Tensor& ids) {
  auto h = m.embed(ids, 0);
  for (int l = 0; l < kBottom; ++l) h = m.block(l, h, nullptr, 0);
  return h;
}

struct Replay {
  double a_error = 0;     // max |A_rebuilt - A_client| at initialisation
  double step2_ratio = 0; // |replayed - seen| / |seen - base model| at step 2's first forward
};

// The attack: initial adapters `lora` (bottom blocks), replay step 1, compare with step 2.
Replay replay(std::shared_ptr<model::LoraAdapters> lora, const std::map<model::LinearSite, at::Tensor>& client_a,
              const TappedServer& server, const std::vector<train::MicroBatch>& data) {
  auto& pairs = lora->pairs();
  for (auto it = pairs.begin(); it != pairs.end();) it = it->first.layer < kBottom ? std::next(it) : pairs.erase(it);
  Replay r;
  for (const auto& [site, p] : pairs) r.a_error = std::max(r.a_error, (p.a - client_a.at(site)).abs().max().item<double>());
  auto pub = model::load_model(tiny_model());
  pub.model->set_lora(lora);
  const auto grads = messages(server, transport::Direction::kSent, "split.backward");
  const auto seen = messages(server, transport::Direction::kReceived, "split.forward");
  EXPECT_GE(grads.size(), 2u);
  EXPECT_GE(seen.size(), 3u);
  if (grads.size() < 2 || seen.size() < 3) return r;
  at::Tensor base;
  {
    at::NoGradGuard g;
    pub.model->set_lora(nullptr);
    base = bottom(*pub.model, data[2].input_ids);
    pub.model->set_lora(lora);
  }
  // Step 1: two micro-batches, the gradient the server returned for each; AdamW as the recipe's.
  torch::optim::AdamW opt(lora->parameters(), torch::optim::AdamWOptions(kLr).weight_decay(0));
  opt.zero_grad();
  for (int i = 0; i < 2; ++i) bottom(*pub.model, data[i].input_ids).backward(grads[i].tensor("g"));
  opt.step();
  at::NoGradGuard g;
  const auto& h = seen[2].tensor("h");
  auto replayed = bottom(*pub.model, data[2].input_ids);
  r.step2_ratio = (replayed - h).abs().max().item<double>() / (h - base).abs().max().item<double>();
  return r;
}

TEST(SplitAttack, ServerCannotRebuildTheClientsAdaptersFromWhatItReceives) {
  auto dir = testing::scratch_dir();
  auto cfg = base_config({{"k", "2"}, {"m", "2"}, {"secret_file", (dir / "secret").string()}});
  auto server = tapped_server("split");
  auto s = open_split_session(cfg, parse_split_options("split", cfg.design_options), server.endpoint);
  std::map<model::LinearSite, at::Tensor> client_a;
  for (const auto& [site, p] : s->adapters()->pairs())
    if (site.layer < kBottom) client_a[site] = p.a.detach().clone();
  ASSERT_FALSE(client_a.empty());

  const auto data = batches(4);
  train::OptimConfig oc;
  oc.lr = kLr;
  oc.total_steps = 2;
  train::Trainer trainer(s->model(), s->trainable(), oc);
  for (int i = 0; i < 2; ++i) (void)s->step(trainer, std::span<const train::MicroBatch>(data.data() + 2 * i, 2));

  // The attacker knows the LoRA hyperparameters (public defaults) and tries every seed it saw.
  const auto seeds = numbers_seen(server);
  double best_ratio = 1e9, best_a = 1e9;
  for (auto seed : seeds) {
    auto r = replay(std::make_shared<model::LoraAdapters>(s->model().config(), cfg.lora, seed), client_a, server, data);
    best_ratio = std::min(best_ratio, r.step2_ratio);
    best_a = std::min(best_a, r.a_error);
  }
  EXPECT_GT(best_a, 1e-3) << "a seed the server saw rebuilds the client's initial adapters";
  EXPECT_GT(best_ratio, 0.3) << "the server replayed the client's bottom blocks";

  // The same attack with the client's secret succeeds: the test can tell.
  auto lora = std::make_shared<model::LoraAdapters>(s->model().config(), cfg.lora, 0);
  designs::guarded::init_client_lora(designs::guarded::ClientSecret::load(dir / "secret"), *lora,
                                     [](int l) { return l < kBottom || l >= 4; });
  auto r = replay(lora, client_a, server, data);
  EXPECT_EQ(r.a_error, 0.0);
  EXPECT_LT(r.step2_ratio, 0.02);
}

// Everything a run sends the server, for split (with and without server LoRA) and gradfree with
// SPSA: no learning rate, no seed, nothing of the client's schedule.
TEST(SplitAttack, NoSplitMessageCarriesTheLearningRateOrTheClientsSeed) {
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> runs = {
      {"split", {{"k", "1"}, {"m", "1"}}},
      {"split", {{"k", "1"}, {"m", "1"}, {"server_lora", "1"}, {"server_lr", "0.002"}}},
      {"gradfree", {{"k", "1"}, {"m", "1"}, {"zo_bottom", "1"}}}};
  for (const auto& [design, opts] : runs) {
    auto cfg = base_config(opts);
    cfg.seed = 987654;
    cfg.optim.lr = 0.00321;
    cfg.optim.warmup_steps = 2;
    auto server = tapped_server(design);
    auto s = open_split_session(cfg, parse_split_options(design, cfg.design_options), server.endpoint);
    train::OptimConfig oc = cfg.optim;
    oc.total_steps = 3;
    train::Trainer trainer(s->model(), s->trainable(), oc);
    const auto data = batches(3);
    for (int i = 0; i < 3; ++i) (void)s->step(trainer, std::span<const train::MicroBatch>(data.data() + i, 1));
    s->sync();
    int received = 0;
    for (const auto& e : server.tap->entries()) {
      if (e.direction != transport::Direction::kReceived) continue;
      ++received;
      const auto& m = e.message;
      for (auto i : m.ints) EXPECT_NE(i, 987654) << design << " " << m.op << " carries the seed";
      for (const auto& [k, v] : m.meta) {
        EXPECT_TRUE(k != "lr" && k != "seed") << design << " " << m.op << " carries " << k;
        EXPECT_EQ(v.find("987654"), std::string::npos) << design << " " << m.op << " " << k << "=" << v;
        EXPECT_EQ(v.find("0.00321"), std::string::npos) << design << " " << m.op << " " << k << "=" << v;
        EXPECT_EQ(v.find("0.0032"), std::string::npos) << design << " " << m.op << " " << k << "=" << v;
      }
      if (m.op == "split.step") {
        EXPECT_TRUE(m.meta.empty() && m.ints.empty() && m.tensors.empty());
      }
      if (m.op == "split.open") {
        std::set<std::string> keys;
        for (const auto& [k, v] : m.meta) keys.insert(k);
        if (opts.count("server_lora"))
          EXPECT_EQ(keys, (std::set<std::string>{"mix", "lora_alpha", "lora_targets", "lora_dropout", "server_lr"}));
        else
          EXPECT_EQ(keys, (std::set<std::string>{"mix"}));
      }
    }
    EXPECT_GT(received, 3) << design;
  }
}

// The default secret lives in the run's own checkpoint folder (0600), is read back on --resume,
// and appears in no message the server received.
TEST(SplitAttack, ClientSecretStaysOnTheClientAndSurvivesResume) {
  auto dir = testing::scratch_dir();
  auto cfg = base_config({{"k", "1"}, {"m", "1"}, {"zo_bottom", "1"}});
  cfg.design = "gradfree";
  cfg.data = std::filesystem::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  cfg.out = dir / "run";
  cfg.max_steps = 2;
  cfg.max_examples = 24;
  cfg.val_fraction = 0;
  cfg.progress = false;
  cfg.parties.audit_dir = dir / "audit";
  designs::register_builtin_designs();
  (void)train::run_finetune(cfg);
  const auto path = cfg.out / "checkpoints" / "split_client_secret";
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto secret = util::read_file(path);
  ASSERT_EQ(secret.size(), 65u);
  for (const auto& e : transport::read_audit_dir(cfg.parties.audit_dir))
    for (const auto& [k, v] : e.message.meta) EXPECT_EQ(v.find(secret.substr(0, 16)), std::string::npos) << k;
  cfg.resume = true;
  cfg.max_steps = 3;
  auto r = train::run_finetune(cfg);
  EXPECT_EQ(r.steps, 3);
  EXPECT_EQ(util::read_file(path), secret);
}

}  // namespace
}  // namespace veil
