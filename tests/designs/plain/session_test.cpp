// `--design plain` with in-process workers: the same training run as the local plain session.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <unistd.h>

#include "designs/plain/plain_test_util.h"
#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/train/finetune.h"
#include "veil/util/file_io.h"

namespace veil::designs::plain {
namespace {
namespace fs = std::filesystem;

struct Fixture : ::testing::Test {
  void SetUp() override { register_builtin_designs(); }
};
using PlainRemote = Fixture;

// The local run, computed once for the tests of this file.
const fs::path& local_run() {
  static const fs::path out = [] {
    auto dir = fs::temp_directory_path() / ("veil-plain-remote-local-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    (void)train::run_finetune(testing::tiny_run(dir));
    return dir;
  }();
  return out;
}

void expect_same_run(const fs::path& a, const fs::path& b) {
  auto la = testing::train_losses(a), lb = testing::train_losses(b);
  ASSERT_EQ(la.size(), 4u);
  ASSERT_EQ(la.size(), lb.size());
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-5) << "step " << i + 1;
  EXPECT_LT(testing::adapter_relative_l2(a, b), testing::kAdapterRelativeTolerance)
      << "largest difference " << testing::adapter_max_diff(a, b);
}

TEST_F(PlainRemote, InProcessWorkerRunEqualsTheLocalRun) {
  auto out = testing::scratch_dir();
  auto cfg = testing::tiny_run(out);
  cfg.design_options = {{"workers", "in-process"}, {"pipeline", "off"}};
  auto r = train::run_finetune(cfg);
  expect_same_run(local_run(), out);
  const auto& rep = r.summary.at("design_report");
  EXPECT_EQ(rep.at("executor"), "remote");
  EXPECT_EQ(rep.at("workers").size(), 1u);
  EXPECT_FALSE(rep.at("pipelined").get<bool>());
  // 4 steps × 2 micro-batches × 2 rows × 32 tokens.
  EXPECT_EQ(rep.at("train_tokens").get<int>(), 4 * 2 * 2 * 32);
  // Each block sends its four group inputs forward and four gradients backward: at least
  // (2·192 + 2·512)·4 bytes per layer and token each way (the fp32 activations).
  EXPECT_GT(rep.at("bytes_sent_per_token").get<double>(), 6 * 4 * (2 * 192 + 512 + 192) * 0.99);
  EXPECT_GT(rep.at("bytes_received_per_token").get<double>(), 0);
  auto summary = nlohmann::json::parse(util::read_file(out / "summary.json"));
  EXPECT_EQ(summary.at("design_report").at("train_tokens"), rep.at("train_tokens"));
}

TEST_F(PlainRemote, PipelinedMicroBatchesOnTwoWorkersEqualTheLocalRun) {
  auto out = testing::scratch_dir();
  auto cfg = testing::tiny_run(out);
  cfg.design_options = {{"workers", "in-process"}, {"shards", "2"}};
  auto r = train::run_finetune(cfg);
  expect_same_run(local_run(), out);
  const auto& rep = r.summary.at("design_report");
  ASSERT_EQ(rep.at("workers").size(), 2u);
  EXPECT_EQ(rep.at("workers")[0].at("layers"), "0:3");
  EXPECT_EQ(rep.at("workers")[1].at("layers"), "3:6");
  EXPECT_TRUE(rep.at("pipelined").get<bool>());
  // Both workers serve 3 layers × 4 groups, forward and backward, per micro-batch; worker 0 gets no
  // backward call for layer 0's q/k/v (its input needs no gradient).
  EXPECT_EQ(rep.at("workers")[1].at("calls").get<int>() - rep.at("workers")[0].at("calls").get<int>(), 4 * 2);
}

TEST_F(PlainRemote, RejectsOptionsItDoesNotKnow) {
  auto cfg = testing::tiny_run(testing::scratch_dir());
  auto expect_rejected = [&](std::map<std::string, std::string> opts, const std::string& needle) {
    cfg.design_options = std::move(opts);
    try {
      (void)train::run_finetune(cfg);
      ADD_FAILURE() << "accepted options that should fail with '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_rejected({{"colour", "blue"}}, "no option 'colour'");
  expect_rejected({{"workers", "everywhere"}}, "--opt workers=everywhere");
  expect_rejected({{"workers", "in-process"}, {"shards", "x"}}, "--opt shards=x");
  expect_rejected({{"workers", "in-process"}, {"shards", "7"}}, "exceeds the model's 6 layers");
  expect_rejected({{"shards", "2"}}, "workers=in-process only");
  expect_rejected({{"pipeline", "on"}}, "give --workers");
}

}  // namespace
}  // namespace veil::designs::plain
