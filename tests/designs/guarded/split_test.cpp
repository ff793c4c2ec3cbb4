// `split`: equal to plain fine-tuning without enhancements; each enhancement changes what the
// server receives (its audit tap) in the stated way.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "designs/guarded/harness.h"
#include "designs/guarded/privacy.h"
#include "support/shared_assets.h"
#include "veil/designs/plain/local_session.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/loader.h"
#include "veil/train/design.h"
#include "veil/util/file_io.h"

namespace veil {
namespace {
using namespace guarded_test;
using designs::guarded::open_split_session;
using designs::guarded::parse_split_options;

std::vector<double> train_losses(train::DesignSession& s, const std::vector<train::MicroBatch>& data, int steps) {
  train::OptimConfig oc;
  oc.lr = 3e-3;
  oc.total_steps = steps;
  train::Trainer trainer(s.model(), s.trainable(), oc);
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    std::span<const train::MicroBatch> micro(data.data() + 2 * i, 2);  // two micro-batches per step
    losses.push_back(s.step(trainer, micro).loss);
  }
  return losses;
}

TEST(Split, WithoutEnhancementsEqualsPlainOnTheSameAdapters) {
  const auto data = batches(8);
  auto cfg = base_config({{"k", "2"}, {"m", "2"}});
  // The split client draws its adapters' initialisation from its own secret: the plain run starts
  // from the same adapters (copied before either trains).
  auto server = tapped_server("split");
  auto split = open_split_session(cfg, parse_split_options("split", cfg.design_options), server.endpoint);
  // Golden: plain fine-tuning of the adapters on the client's blocks (0, 1, 4, 5).
  auto plain_cfg = cfg;
  plain_cfg.design_options.clear();
  auto plain = designs::plain::open_local_session(plain_cfg);
  auto& pairs = plain->adapters()->pairs();
  for (auto it = pairs.begin(); it != pairs.end();) it = (it->first.layer >= 2 && it->first.layer < 4) ? pairs.erase(it) : std::next(it);
  {
    at::NoGradGuard g;
    for (auto& [site, p] : pairs) p.a.copy_(split->adapters()->pairs().at(site).a);
  }
  auto golden = train_losses(*plain, data, 4);

  auto losses = train_losses(*split, data, 4);
  ASSERT_EQ(losses.size(), golden.size());
  for (std::size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(losses[i], golden[i], 1e-5 * golden[i]) << "step " << i;
  EXPECT_LT(losses.back(), losses.front());
  ASSERT_EQ(split->adapters()->pairs().size(), pairs.size());
  for (const auto& [site, p] : split->adapters()->pairs())
    EXPECT_TRUE(at::allclose(p.b, pairs.at(site).b, 1e-4, 1e-6)) << "layer " << site.layer;

  // The server saw activations and gradients only: no tokens, labels or integer tensors.
  int forwards = 0, backwards = 0;
  for (const auto& e : server.tap->entries()) {
    if (e.direction != transport::Direction::kReceived) continue;
    forwards += e.message.op == "split.forward";
    backwards += e.message.op == "split.backward";
    for (const auto& [name, t] : e.message.tensors) {
      if (e.message.op != "split.open") {
        EXPECT_EQ(t.scalar_type(), at::kFloat) << e.message.op << " " << name;
      }
    }
  }
  EXPECT_EQ(forwards, 8);
  EXPECT_EQ(backwards, 8);
  auto r = split->report();
  EXPECT_GT(r["bytes_up_per_token"].get<double>(), 0);
  EXPECT_LT(r["client_param_share"].get<double>(), 1.0);
}

// The activations the server received in split.forward, in order.
std::vector<transport::Message> received_forwards(const TappedServer& s) {
  std::vector<transport::Message> out;
  for (const auto& e : s.tap->entries())
    if (e.direction == transport::Direction::kReceived && e.message.op == "split.forward") out.push_back(e.message);
  return out;
}

// Runs one evaluation pass through a split session with `opts`; returns the server's view and loss.
std::pair<std::vector<transport::Message>, double> one_pass(std::map<std::string, std::string> opts) {
  auto cfg = base_config(std::move(opts));
  auto server = tapped_server("split");
  auto s = open_split_session(cfg, parse_split_options("split", cfg.design_options), server.endpoint);
  auto data = batches(2);
  double loss = s->evaluate(data).loss;
  return {received_forwards(server), loss};
}

TEST(Split, NoiseIsAddedAtTheStatedScale) {
  auto [clean, clean_loss] = one_pass({});
  auto [gauss, g_loss] = one_pass({{"noise", "gaussian"}, {"noise_scale", "0.5"}});
  auto [lap, l_loss] = one_pass({{"noise", "laplace"}, {"noise_scale", "0.25"}});
  ASSERT_EQ(clean.size(), 2u);
  ASSERT_EQ(gauss.size(), 2u);
  ASSERT_EQ(lap.size(), 2u);
  auto dg = gauss[0].tensor("h") - clean[0].tensor("h");
  EXPECT_NEAR(dg.std().item<double>(), 0.5, 0.02);
  EXPECT_NEAR(dg.mean().item<double>(), 0.0, 0.02);
  auto dl = lap[0].tensor("h") - clean[0].tensor("h");
  EXPECT_NEAR(dl.abs().mean().item<double>(), 0.25, 0.01);                       // E|Laplace(b)| = b
  EXPECT_NEAR(dl.std().item<double>(), 0.25 * std::sqrt(2.0), 0.02);              // sd = b·√2
  EXPECT_NE(g_loss, clean_loss);
  EXPECT_NE(l_loss, clean_loss);
}

TEST(Split, ClippingBoundsEveryRow) {
  auto [seen, loss] = one_pass({{"clip", "1.5"}});
  for (const auto& m : seen) EXPECT_LE(m.tensor("h").norm(2, {-1}).max().item<double>(), 1.5 + 1e-4);
}

TEST(Split, QuantizationSendsIntegersWithinHalfAStep) {
  auto [clean, clean_loss] = one_pass({});
  auto [q8, q_loss] = one_pass({{"quant_bits", "8"}});
  ASSERT_EQ(q8.size(), clean.size());
  const auto& m = q8[0];
  EXPECT_EQ(m.tensors.count("h"), 0u);
  ASSERT_EQ(m.tensors.count("q"), 1u);
  EXPECT_EQ(m.tensor("q").scalar_type(), at::kChar);
  EXPECT_LE(m.tensor("q").abs().max().item<int>(), 127);
  auto deq = m.tensor("q").to(at::kFloat) * m.tensor("scale");
  auto err = (deq - clean[0].tensor("h")).abs() / m.tensor("scale");
  EXPECT_LE(err.max().item<double>(), 0.5 + 1e-3);
  EXPECT_LT(m.payload_bytes(), clean[0].payload_bytes() / 3);  // 1 byte per value + a scale per row
  EXPECT_NEAR(q_loss, clean_loss, 0.05 * clean_loss);
}

TEST(Split, FourBitValuesTravelTwoPerByte) {
  using designs::guarded::pack_nibbles;
  using designs::guarded::unpack_nibbles;
  auto odd = at::tensor(std::vector<std::int8_t>{-7, 7, 0, 3, -1}, at::kChar).reshape({1, 5});
  auto packed = pack_nibbles(odd);
  EXPECT_EQ(packed.size(-1), 3);
  EXPECT_TRUE(at::equal(unpack_nibbles(packed, 5), odd));
  EXPECT_THROW((void)unpack_nibbles(packed, 7), transport::ProtocolError);

  auto [clean, clean_loss] = one_pass({});
  auto [q8, q8_loss] = one_pass({{"quant_bits", "8"}});
  auto [q4, q4_loss] = one_pass({{"quant_bits", "4"}});
  ASSERT_EQ(q4.size(), clean.size());
  const auto& m = q4[0];
  EXPECT_EQ(m.tensors.count("q"), 0u);
  ASSERT_EQ(m.tensors.count("q4"), 1u);
  const auto& h = clean[0].tensor("h");
  EXPECT_EQ(m.tensor("q4").scalar_type(), at::kByte);
  EXPECT_EQ(m.tensor("q4").size(-1), h.size(-1) / 2);
  // The server sees 4-bit values, within half a step of the clean activation.
  auto v = unpack_nibbles(m.tensor("q4"), h.size(-1));
  EXPECT_LE(v.abs().max().item<int>(), 7);
  auto err = (v.to(at::kFloat) * m.tensor("scale") - h).abs() / m.tensor("scale");
  EXPECT_LE(err.max().item<double>(), 0.5 + 1e-3);
  // Values take half the bytes of 8-bit ones; with the per-row scale the message is ~0.51x.
  EXPECT_EQ(2 * m.tensor("q4").nbytes(), q8[0].tensor("q").nbytes());
  EXPECT_LT(m.payload_bytes(), 0.55 * static_cast<double>(q8[0].payload_bytes()));
  EXPECT_NEAR(q4_loss, clean_loss, 0.2 * clean_loss);
}

// With server_lora the client's adapter includes the server blocks' LoRA (fetched at sync): the
// PEFT output loaded into the plain model gives the split model's outputs; a resumed session
// sends it back to a fresh server.
void expect_server_lora_in_peft(std::map<std::string, std::string> opts) {
  auto dir = testing::scratch_dir();
  auto cfg = base_config(opts);
  const auto data = batches(6);
  auto server = tapped_server("split");
  auto s = open_split_session(cfg, parse_split_options("split", cfg.design_options), server.endpoint);
  (void)train_losses(*s, data, 3);
  s->sync();
  int middle = 0;
  for (const auto& [site, p] : s->adapters()->pairs())
    if (site.layer >= 1 && site.layer < 5) {
      ++middle;
      EXPECT_GT(p.b.abs().max().item<double>(), 0.0) << "server LoRA at layer " << site.layer << " was not fetched";
    }
  EXPECT_GT(middle, 0);
  lora::save_peft_adapter(dir, s->model().config(), *s->adapters(), tiny_model().string());

  auto plain = model::load_model(tiny_model());
  plain.model->set_lora(lora::load_peft_adapter(dir, plain.model->config()));
  at::NoGradGuard g;
  auto ids = data[0].input_ids;
  auto want = plain.model->forward(ids);
  auto got = s->model().forward(ids);
  EXPECT_LT((got - want).abs().max().item<double>(), 2e-4 * want.abs().max().item<double>());

  // Resume: a new session (new server, new mixing matrix) restored from the PEFT adapter.
  auto server2 = tapped_server("split");
  auto s2 = open_split_session(cfg, parse_split_options("split", cfg.design_options), server2.endpoint);
  auto saved = lora::load_peft_adapter(dir, plain.model->config());
  for (auto& [site, p] : s2->adapters()->pairs()) {
    p.a.copy_(saved->pairs().at(site).a);
    p.b.copy_(saved->pairs().at(site).b);
  }
  s2->adapters_restored();
  auto again = s2->model().forward(ids);
  EXPECT_LT((again - want).abs().max().item<double>(), 2e-4 * want.abs().max().item<double>());
}

TEST(Split, ServerLoraIsPartOfTheClientsPeftAdapter) {
  expect_server_lora_in_peft({{"k", "1"}, {"m", "1"}, {"server_lora", "1"}});
}

TEST(Split, ServerLoraUnderOrthogonalMixingIsExportedInModelCoordinates) {
  expect_server_lora_in_peft({{"k", "1"}, {"m", "1"}, {"server_lora", "1"}, {"mix", "orthogonal"}});
}

TEST(Split, OrthogonalMixingHidesCoordinatesButKeepsTheFunction) {
  auto [clean, clean_loss] = one_pass({});
  auto [mixed, mixed_loss] = one_pass({{"mix", "orthogonal"}});
  const auto& a = clean[0].tensor("h");
  const auto& b = mixed[0].tensor("h");
  EXPECT_GT((a - b).abs().max().item<double>(), 0.1);                          // other coordinates
  EXPECT_TRUE(at::allclose(a.norm(2, {-1}), b.norm(2, {-1}), 1e-4, 1e-4));     // same row norms
  EXPECT_NEAR(mixed_loss, clean_loss, 1e-4 * clean_loss);                      // same model
}

TEST(Split, BadOptionsAreRejectedWithAMessage) {
  auto cfg = base_config();
  EXPECT_THROW((void)parse_split_options("split", {{"bogus", "1"}}), std::invalid_argument);
  EXPECT_THROW((void)parse_split_options("split", {{"zo_bottom", "1"}}), std::invalid_argument);  // gradfree only
  EXPECT_THROW((void)parse_split_options("split", {{"noise", "gaussian"}}), std::invalid_argument);
  EXPECT_THROW((void)parse_split_options("split", {{"quant_bits", "1"}}), std::invalid_argument);
  EXPECT_THROW((void)parse_split_options("split", {{"k", "x"}}), std::invalid_argument);
  auto server = tapped_server("split");
  EXPECT_THROW((void)open_split_session(cfg, parse_split_options("split", {{"k", "3"}, {"m", "3"}}), server.endpoint),
               std::invalid_argument);
  auto gpt2 = cfg;
  gpt2.model = std::filesystem::path(VEIL_SOURCE_DIR) / "tests/data/tiny-gpt2";
  EXPECT_THROW((void)open_split_session(gpt2, parse_split_options("split", {{"mix", "orthogonal"}}), nullptr),
               std::invalid_argument);
}

TEST(Split, DistanceCorrelationMeasuresDependence) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x = at::randn({512, 4}, gen);
  using designs::guarded::distance_correlation;
  EXPECT_NEAR(distance_correlation(x, x * 3 + 1).item<double>(), 1.0, 1e-3);
  const double independent = distance_correlation(x, at::randn({512, 4}, gen)).item<double>();
  EXPECT_LT(independent, 0.3);
  EXPECT_GT(distance_correlation(x, x.pow(2)).item<double>(), independent + 0.1);  // uncorrelated, dependent
}

TEST(Split, FinetuneRecipeRunsWithDcorAndReportsAccounting) {
  auto dir = testing::scratch_dir();
  auto cfg = base_config({{"k", "1"}, {"m", "1"}, {"dcor", "0.5"}, {"noise", "laplace"}, {"epsilon", "4"}, {"clip", "10"}});
  cfg.design = "split";
  cfg.data = std::filesystem::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  cfg.out = dir;
  cfg.seq_len = 32;
  cfg.batch_size = 2;
  cfg.max_steps = 2;
  cfg.max_examples = 24;
  cfg.progress = false;
  designs::register_builtin_designs();
  auto r = train::run_finetune(cfg);
  EXPECT_EQ(r.steps, 2);
  EXPECT_TRUE(std::filesystem::exists(dir / "adapter_model.safetensors"));
  auto rep = r.summary.at("design_report");
  EXPECT_GE(rep.at("dcor").at("last").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(rep.at("noise").at("d_chi_epsilon_per_unit_l1").get<double>(), 4.0);
  EXPECT_GT(rep.at("noise").at("dp_epsilon").get<double>(), 4.0);
}

}  // namespace
}  // namespace veil
