// he-lora against its golden, the plain design: forward products, greedy generation, convergence
// of fine-tuning, sharding over workers, and what a worker sees over a whole run.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "designs/he_lora/audit_check.h"
#include "support/shared_assets.h"
#include "veil/designs/he_lora/executor.h"
#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/session.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/designs/registry.h"
#include "veil/he/serialization.h"
#include "veil/model/loader.h"
#include "veil/model/projection.h"
#include "veil/model/presets.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"
#include "veil/train/design.h"
#include "veil/train/finetune.h"
#include "veil/util/file_io.h"

namespace veil::designs::he_lora {
namespace {
namespace fs = std::filesystem;

train::FinetuneConfig run_config(const fs::path& model, const fs::path& out, std::string design) {
  train::FinetuneConfig c;
  c.model = model;
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.design = std::move(design);
  c.seq_len = 64;
  c.batch_size = 4;
  c.max_steps = 12;
  c.max_examples = 64;
  c.optim.lr = 5e-3;
  c.progress = false;
  c.seed = 3;
  return c;
}

// A short run for the tests that check exactness or traffic rather than convergence: 2 x 16 rows
// (the row-packed layout), no evaluation unless asked.
train::FinetuneConfig short_config(const fs::path& model, const fs::path& out, std::string design) {
  auto c = run_config(model, out, std::move(design));
  c.seq_len = 16;
  c.batch_size = 2;
  c.max_steps = 2;
  c.val_fraction = 0;
  return c;
}

TEST(HeLoraOptions, RejectsUnknownKeysAndBadValues) {
  EXPECT_EQ(HeLoraOptions::parse({{"precision", "compact"}}).precision, he::Precision::kCompact);
  EXPECT_EQ(HeLoraOptions::parse({}).precision, he::Precision::kExact);
  EXPECT_THROW((void)HeLoraOptions::parse({{"precision", "approximate"}}), std::invalid_argument);
  EXPECT_THROW((void)HeLoraOptions::parse({{"bitz", "8"}}), std::invalid_argument);
  EXPECT_THROW((void)HeLoraOptions::parse({{"bits", "17"}}), std::invalid_argument);
  EXPECT_THROW((void)HeLoraOptions::parse({{"lm_head", "cloud"}}), std::invalid_argument);
  EXPECT_THROW((void)HeLoraOptions::parse({{"workers", "in-process:x"}}), std::invalid_argument);
  EXPECT_THROW((void)HeLoraOptions::parse({{"pipeline", "maybe"}}), std::invalid_argument);
  EXPECT_EQ(HeLoraOptions::parse({}).pipeline, HeLoraOptions::Pipeline::kAuto);
  EXPECT_THROW((void)HeLoraOptions::parse({{"in_flight", "0"}}), std::invalid_argument);
  auto o = HeLoraOptions::parse({{"bits", "6"}, {"workers", "in-process:2"}, {"embed", "local"}});
  EXPECT_EQ(o.bits, 6);
  EXPECT_EQ(o.in_process_workers, 2);
  EXPECT_FALSE(o.embed_on_worker);
}

TEST(HeLoraParameters, MeetTheSecurityTableForLlama1BShape) {
  const model::ModelConfig c = model::llama3_2_1b();
  auto p = parameters_for(c, 8, 8);
  EXPECT_EQ(security_bits(p), 128);
  // Every inner dimension (the vocabulary, the MLP's 8192, the fused gate/up gradient) is chunked
  // at 4096: log q = 52 keeps N = 2048 under the 2024 bound of 53.
  EXPECT_EQ(p.max_inner_dim, 4096u);
  EXPECT_EQ(p.log_q, 52u);
  EXPECT_EQ(p.poly_degree, 2048u);
  EXPECT_LE(static_cast<int>(p.log_q), he::max_log_q_128(p.poly_degree));
  EXPECT_THROW((void)parameters_for(c, 16, 16), std::invalid_argument);
}

// Logits of the encrypted model against the plain one; greedy tokens at 16-bit activations.
TEST(HeLoraSession, LogitsTrackPlainAndGreedyGenerationMatchesAt16Bits) {
  VEIL_REQUIRE_SHARED(assets);
  const auto model_dir = assets / "models/stories260K-hf";
  auto plain = model::load_model(model_dir);
  std::vector<std::int64_t> prompt{1, 403, 407, 261, 378};
  model::GenerationConfig g;
  g.max_new_tokens = 24;
  const auto want = model::generate(*plain.model, prompt, g);

  auto cfg = run_config(model_dir, testing::scratch_dir(), "he-lora");
  cfg.design_options = {{"bits", "16"}, {"weight_bits", "12"}};
  HeLoraSession s(cfg);
  {
    at::NoGradGuard ng;
    auto ids = at::tensor(prompt, at::kLong).unsqueeze(0);
    auto a = plain.model->forward(ids), b = s.model().forward(ids);
    EXPECT_LT((a - b).abs().max().item<double>() / a.abs().max().item<double>(), 0.02);
  }
  const auto got = generate(s, prompt, g);
  EXPECT_EQ(got, want);
  auto r = s.report();
  EXPECT_EQ(r["security_bits"], 128);
  EXPECT_LT(r["owner_parameter_share"].get<double>(), 0.10) << r.dump();
}

// The worker proposes each plan's parameters; the data owner refuses, before encrypting anything,
// a set below 128-bit security, under another CRS seed (the uniform parts would be the worker's
// choice), or bounding the inputs of an ordinary product (input_l1 is for the embedding lookup).
TEST(HeLoraExecutor, RefusesPlanParametersTheWorkerTamperedWith) {
  VEIL_REQUIRE_SHARED(assets);
  auto files = std::make_shared<model::ModelFiles>(model::read_model(assets / "models/stories260K-hf"));
  const int L = static_cast<int>(files->config.num_layers);
  auto inner = std::make_shared<transport::Service>("worker");
  install_worker(*inner, files, 0, L);
  auto inner_ep = transport::connect_in_process(inner, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  const auto bp = model::block_projections(files->config.family);
  at::Tensor x = at::randn({1, 3, files->config.hidden_size});
  for (int mode = 0; mode < 4; ++mode) {
    auto proxy = std::make_shared<transport::Service>("proxy");
    for (const char* op : {"he.setup", "he.forward", "he.backward"})
      proxy->on(op, transport::kWorkerCallers, [inner_ep](const transport::Message& m) { return inner_ep->call(m); });
    proxy->on("he.plan_info", transport::kWorkerCallers, [inner_ep, mode](const transport::Message& m) {
      transport::Message r = inner_ep->call(m);
      const std::string& blob = r.blobs.at("s0");
      he::Parameters p = he::load_parameters(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size()));
      if (mode == 1) p.crs_seed[0] ^= 1;
      if (mode == 2) {
        p.allow_insecure = true;
        p.poly_degree = 1024;
      }
      if (mode == 3) p.input_l1 = 1;
      auto b = he::save(p);
      r.blobs["s0"] = std::string(b.begin(), b.end());
      return r;
    });
    std::vector<transport::WorkerPool::Worker> ws{
        {transport::connect_in_process(proxy, transport::Peer::identified(transport::Role::kDataOwner, "test")), 0, L}};
    HeLoraExecutor exec(files->config, transport::WorkerPool(std::move(ws)), parameters_for(files->config, 8, 8),
                        *files);
    if (mode == 0) {
      EXPECT_NO_THROW((void)exec.linear(0, bp.attn_in, x));
    } else {
      EXPECT_THROW((void)exec.linear(0, bp.attn_in, x), he::VerificationError) << "mode " << mode;
    }
  }
}

// Convergence: the 8-bit run's final training loss is within 2% of plain LoRA's. 4 x 64 rows per
// step (the column layout that training uses). Plain LoRA's loss falls by ~25% in these steps
// (5.30 -> 3.94) and a 4-bit run ends ~9% above it (bench_he_lora --curves), so the check can fail.
constexpr std::int64_t kConvergenceSteps = 4;

TEST(HeLoraFinetune, EightBitTracksPlainLora) {
  VEIL_REQUIRE_SHARED(assets);
  register_builtin_designs();
  const auto model_dir = assets / "models/stories260K-hf";
  const auto dir = testing::scratch_dir();
  auto cfg = run_config(model_dir, dir / "plain", "plain");
  cfg.max_steps = kConvergenceSteps;
  cfg.val_fraction = 0;
  auto plain = train::run_finetune(cfg);
  cfg.out = dir / "he";
  cfg.design = "he-lora";
  auto he = train::run_finetune(cfg);
  std::cout << "plain " << plain.first_loss << " -> " << plain.final_loss << ", he-lora 8-bit " << he.first_loss
            << " -> " << he.final_loss << "\n";
  EXPECT_LT(plain.final_loss, 0.9 * plain.first_loss) << "plain LoRA barely trains; the 2% check would be vacuous";
  EXPECT_LT(he.final_loss, he.first_loss);
  EXPECT_NEAR(he.final_loss, plain.final_loss, 0.02 * plain.final_loss)
      << "plain " << plain.first_loss << " -> " << plain.final_loss << ", he " << he.first_loss << " -> "
      << he.final_loss;
  const auto& rep = he.summary["design_report"];
  EXPECT_EQ(rep["security_bits"], 128) << he.summary.dump();
  EXPECT_GT(rep["upload_bytes"].get<double>(), 0);
  // The same with precision=compact (noise and result rounding at ~0.35 of the quantisation error).
  cfg.out = dir / "he-compact";
  cfg.design_options = {{"precision", "compact"}};
  auto compact = train::run_finetune(cfg);
  std::cout << "he-lora 8-bit compact " << compact.first_loss << " -> " << compact.final_loss << "\n";
  EXPECT_NEAR(compact.final_loss, plain.final_loss, 0.02 * plain.final_loss);
  const auto& crep = compact.summary["design_report"];
  EXPECT_EQ(crep["precision"], "compact");
  EXPECT_EQ(crep["security_bits"], 128);
  EXPECT_LT(crep["upload_bytes"].get<double>(), rep["upload_bytes"].get<double>());
  EXPECT_LT(crep["result_bytes"].get<double>(), rep["result_bytes"].get<double>());
}

// precision=compact at 16-bit activations and 8-bit weights (the CLI's widths): greedy tokens equal
// plain's. The results are no longer exact integers, but their error stays far below a logit gap.
TEST(HeLoraSession, CompactGreedyGenerationMatchesPlainAt16Bits) {
  VEIL_REQUIRE_SHARED(assets);
  const auto model_dir = assets / "models/stories260K-hf";
  auto plain = model::load_model(model_dir);
  std::vector<std::int64_t> prompt{1, 403, 407, 261, 378};
  model::GenerationConfig g;
  g.max_new_tokens = 24;
  const auto want = model::generate(*plain.model, prompt, g);
  auto cfg = run_config(model_dir, testing::scratch_dir(), "he-lora");
  cfg.design_options = {{"bits", "16"}, {"precision", "compact"}};
  HeLoraSession s(cfg);
  EXPECT_EQ(generate(s, prompt, g), want);
  {
    // Logits at 8 bits, exact and compact, in the row layout (5 tokens) and the column layout (200).
    auto cfg8 = cfg;
    cfg8.design_options = {{"precision", "compact"}};
    HeLoraSession c8(cfg8);
    cfg8.design_options = {};
    HeLoraSession e8(cfg8);
    at::NoGradGuard ng;
    for (std::int64_t len : {5, 200}) {
      auto ids = at::randint(1, 500, {1, len}, at::kLong);
      auto a = plain.model->forward(ids), b = e8.model().forward(ids), c = c8.model().forward(ids);
      const double scale = a.abs().max().item<double>();
      const double err_exact = (a - b).abs().max().item<double>() / scale;
      const double err_compact = (a - c).abs().max().item<double>() / scale;
      std::cout << len << " tokens: max relative logit error exact " << err_exact << ", compact " << err_compact << "\n";
      EXPECT_LT(err_compact, 2 * err_exact + 0.01) << len;
    }
  }
  for (const auto& p : s.executor().plan_parameters()) {
    EXPECT_EQ(security_bits(p), 128) << p.to_string();
    EXPECT_EQ(p.compact(), p.input_l1 == 0) << p.to_string();  // every plan but the exact lookup
  }
}

// Two workers with contiguous layer ranges and pipelined micro-batches give exactly the single
// worker's sequential adapter: decryption is exact, quantisation deterministic (per row, so the
// micro-batches are quantised alike either way) and the pipelined gradients are added in
// micro-batch order, so neither sharding nor pipelining changes a bit.
TEST(HeLoraFinetune, TwoPipelinedWorkersEqualOneSequential) {
  VEIL_REQUIRE_SHARED(assets);
  register_builtin_designs();
  const auto model_dir = assets / "models/stories260K-hf";
  const auto dir = testing::scratch_dir();
  auto a_cfg = short_config(model_dir, dir / "one", "he-lora");
  a_cfg.max_steps = 1;  // the adapter after one step depends on every forward and backward product
  a_cfg.batch_size = 1;
  a_cfg.grad_accum = 2;  // two micro-batches per step
  a_cfg.design_options = {{"pipeline", "off"}};
  auto b_cfg = a_cfg;
  b_cfg.out = dir / "two";
  b_cfg.design_options = {{"workers", "in-process:2"}, {"pipeline", "on"}};
  auto a = train::run_finetune(a_cfg);
  auto b = train::run_finetune(b_cfg);
  EXPECT_EQ(b.summary["design_report"]["workers"], 2);
  EXPECT_EQ(b.summary["design_report"]["pipelined"], true);
  EXPECT_EQ(a.summary["design_report"]["pipelined"], false);
  EXPECT_EQ(a.final_loss, b.final_loss);
  EXPECT_EQ(util::read_file(dir / "one/adapter_model.safetensors"),
            util::read_file(dir / "two/adapter_model.safetensors"));
}

// Everything a worker received or sent over a fine-tuning run (with evaluation) is a veil::he
// ciphertext, result or public plan mask under parameters meeting 128-bit security, or the
// parameters themselves; no tensors, and no integers but layer / projection / layout ids.
TEST(HeLoraAudit, WorkerSeesOnlyCiphertextsOverAWholeRun) {
  VEIL_REQUIRE_SHARED(assets);
  register_builtin_designs();
  static std::vector<std::shared_ptr<transport::AuditTap>> taps;
  static he::Parameters parms;
  taps.clear();
  train::register_design("he-lora-audited", "test", [](const train::FinetuneConfig& c) {
    auto inner = c;
    inner.design = "he-lora";
    auto s = std::make_unique<HeLoraSession>(inner);
    taps = s->worker_taps();
    parms = s->executor().parameters();
    return std::unique_ptr<train::DesignSession>(std::move(s));
  });
  const auto model_dir = assets / "models/stories260K-hf";
  auto cfg = short_config(model_dir, testing::scratch_dir(), "he-lora-audited");
  cfg.max_steps = 1;
  cfg.val_fraction = 0.01;  // one held-out example: evaluation before and after the step
  cfg.design_options = {{"workers", "in-process:2"}};
  (void)train::run_finetune(cfg);
  ASSERT_EQ(taps.size(), 2u);
  ASSERT_EQ(security_bits(parms), 128);
  std::size_t ciphertexts = 0;
  for (const auto& tap : taps) ciphertexts += check_worker_audit(tap->entries(), parms).ciphertexts;
  EXPECT_GT(ciphertexts, 100u);
}

}  // namespace
}  // namespace veil::designs::he_lora
