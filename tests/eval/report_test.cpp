// The report page: its charts on a hand-made report, rendered by headless Chromium (skipped when
// it is not installed), and `veil evaluate` end to end on the embedded default model.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/eval/evaluate.h"
#include "veil/eval/report.h"
#include "veil/util/file_io.h"

namespace veil::eval {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json hand_made_report() {
  auto cell = [](const std::string& d, double loss, double acc, double secs, double bytes) {
    return json{{"design", d},
                {"status", "ok"},
                {"utility", {{"val_loss", loss}, {"perplexity", std::exp(loss)}, {"delta_val_loss_vs_plain", loss - 4.0}}},
                {"privacy",
                 {{"view", "simulated"},
                  {"simulated", true},
                  {"best_token_accuracy", acc},
                  {"attacks", {{"nn", {{"token_accuracy", acc}, {"rouge_l_f1", acc}, {"secrets_present", 4},
                                       {"secrets_recovered", 3}, {"example", "Anne <Elliot>"}}}}}}},
                {"cost", {{"wall_seconds", secs}, {"bytes_per_token", bytes}}},
                {"loss_curve", {{"steps", {1, 2, 3}}, {"loss", {4.5, 4.2, 4.0}}}}};
  };
  return {{"model", "m"},
          {"data", "d"},
          {"cells", {cell("plain", 4.0, 0.9, 10, 0), cell("unprotected-split", 4.0, 1.0, 12, 1536),
                     {{"design", "he-lora"}, {"status", "unavailable"}, {"message", "not in this build"}}}}};
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// Secrets: 0/0 is not "0.0%" (which reads as safe); the model-confidentiality table names the
// attack and its scores where it ran, and "not measured" where it did not.
TEST(Report, NoSecretIsNotAZeroAndModelConfidentialityIsShown) {
  auto r = hand_made_report();
  auto& cell = r["cells"][0];
  cell["privacy"]["attacks"]["nn"]["secrets_present"] = 0;
  cell["privacy"]["attacks"]["nn"]["secrets_recovered"] = 0;
  cell["privacy"]["best_secret_fraction"] = 0.0;
  r["cells"][1]["privacy"]["model_confidentiality"] = {{"rows_matched", 0.63},    {"update_recovered", 0.692},
                                                       {"rows_recovered", 0.676}, {"loss_true", 2.907},
                                                       {"loss_base", 3.683},      {"loss_recovered", 2.973},
                                                       {"loss_gap_closed", 0.915}};
  auto html = render_report_html(r);
  EXPECT_GE(count(html, "n/a (no secret in text)"), 2);  // the matrix cell and the attack row
  EXPECT_EQ(count(html, "0 / 0"), 0);
  EXPECT_NE(html.find("<table id=\"model\">"), std::string::npos);
  EXPECT_NE(html.find("direction matching against the public base"), std::string::npos);
  EXPECT_NE(html.find("91.5%"), std::string::npos);
  EXPECT_NE(html.find("2.907 / 3.683 / 2.973"), std::string::npos);
  EXPECT_EQ(count(html, "not measured"), 1);  // plain: no model-stealing round
}

TEST(Report, HtmlHasTableAndChartsWithTheirMarks) {
  auto html = render_report_html(hand_made_report());
  EXPECT_EQ(count(html, "<figure class=\"chart\""), 4);
  EXPECT_EQ(count(html, "<circle class=\"point\""), 2);
  EXPECT_EQ(count(html, "<rect class=\"bar\""), 4);  // wall time x2, bytes/token x2 (0 is still a bar)
  EXPECT_EQ(count(html, "<polyline class=\"series\""), 2);
  EXPECT_NE(html.find("not in this build"), std::string::npos);
  EXPECT_NE(html.find("Anne &lt;Elliot&gt;"), std::string::npos);  // escaped
  EXPECT_EQ(html.find("http://cdn"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);  // nothing fetched
}

std::string find_chromium() {
  if (const char* env = std::getenv("VEIL_CHROMIUM")) return env;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(p)) return p;
  return {};
}

std::string run(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  std::array<char, 4096> buf{};
  while (auto n = fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
  *rc = pclose(f);
  return out;
}

TEST(Report, HeadlessChromiumDrawsEveryChart) {
  const auto chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (apt-get install chromium; or set VEIL_CHROMIUM)";
  auto dir = veil::testing::scratch_dir();
  util::write_file_atomic(dir / "report.html", render_report_html(hand_made_report()));
  int rc = -1;
  auto dom = run("timeout 60 " + chromium + " --headless --disable-gpu --no-sandbox --user-data-dir=" +
                     (dir / "profile").string() + " --dump-dom file://" + fs::absolute(dir / "report.html").string() +
                     " 2>/dev/null",
                 &rc);
  ASSERT_EQ(rc, 0) << dom;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-drawn-total=\"(\\d+)\""))) << dom.substr(0, 2000);
  EXPECT_EQ(std::stoi(m[1]), 8);  // 2 points + 4 bars + 2 curves, each with a non-empty box after layout
  for (const char* id : {"privacy-utility", "cost-wall", "cost-bytes", "loss-curves"}) {
    std::regex re(std::string("id=\"") + id + "\" data-drawn=\"(\\d+)\"");
    ASSERT_TRUE(std::regex_search(dom, m, re)) << id;
    EXPECT_GT(std::stoi(m[1]), 0) << id;
  }
}

EvaluateConfig ci_config(const fs::path& out) {
  designs::register_builtin_designs();  // plain and the unprotected-split view are registered specs
  EvaluateConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  return c;
}

TEST(Evaluate, BadInputIsOneClearMessage) {
  auto dir = veil::testing::scratch_dir();
  auto expect_message = [](const EvaluateConfig& c, const std::string& what) {
    try {
      (void)run_evaluation(c);
      ADD_FAILURE() << "expected std::invalid_argument mentioning " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto c = ci_config(dir);
  c.model = "/nonexistent";
  expect_message(c, "--model: not found");
  c = ci_config(dir);
  c.attacks = {"nn", "telepathy"};
  expect_message(c, "unknown attack 'telepathy'");
  c = ci_config(dir);
  c.enhancements = {"split-k"};
  expect_message(c, "expected design:key=value");
  c = ci_config(dir);
  c.cut_layer = 99;
  expect_message(c, "--cut-layer 99");
}

// The CI configuration: a few steps, short sequences, two records. `veil evaluate` is a thin
// wrapper around run_evaluation (apps/veil/cmd_evaluate.cpp).
TEST(Evaluate, EndToEndOnTheEmbeddedDefaultModel) {
  auto dir = veil::testing::scratch_dir();
  auto c = ci_config(dir);
  c.designs = {"plain", kUnprotectedSplit, "no-such-design"};
  c.steps = 2;
  c.batch_size = 2;
  c.seq_len = 32;
  c.max_examples = 30;
  c.attack_records = 2;
  c.attack_tokens = 20;
  c.public_rows = 32;
  c.learned_steps = 60;
  c.gradient_steps = 24;
  ::testing::internal::CaptureStderr();
  auto report = run_evaluation(c);
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("[cell 2/3] unprotected-split"), std::string::npos) << err;  // progress names the cell
  EXPECT_EQ(json::parse(util::read_file(dir / "report.json")), report);
  ASSERT_EQ(report["cells"].size(), 3u);
  const auto& plain = report["cells"][0];
  const auto& split = report["cells"][1];
  EXPECT_EQ(plain["status"], "ok") << plain.dump(2);
  EXPECT_EQ(split["status"], "ok") << split.dump(2);
  EXPECT_EQ(report["cells"][2]["status"], "unavailable");
  EXPECT_NE(report["cells"][2]["message"].get<std::string>().find("not available"), std::string::npos);
  EXPECT_TRUE(plain["utility"]["val_loss"].is_number());
  EXPECT_DOUBLE_EQ(plain["utility"]["delta_val_loss_vs_plain"].get<double>(), 0.0);
  for (const char* a : {"nn", "learned", "gradient", "bisr"})
    EXPECT_TRUE(split["privacy"]["attacks"][a].contains("token_accuracy")) << a << ": " << split["privacy"].dump(2);
  EXPECT_GE(split["privacy"]["attacks"]["nn"]["token_accuracy"].get<double>(), 0.9);
  EXPECT_GE(split["privacy"]["best_token_accuracy"].get<double>(), 0.9);
  EXPECT_GT(split["privacy"]["best_secret_fraction"].get<double>(), 0.0);
  EXPECT_GT(split["cost"]["bytes_per_token"].get<double>(), 0.0);
  EXPECT_EQ(plain["cost"]["bytes_per_token"].get<double>(), 0.0);
  const auto html = util::read_file(dir / "report.html");
  EXPECT_EQ(count(html, "<circle class=\"point\""), 2);
  EXPECT_NE(html.find("no-such-design"), std::string::npos);
}

// The measured report of docs/results/evaluation.md (not run by default; `veil evaluate` with the
// same flags gives the same matrix): VEIL_EVAL_OUT=DIR ./eval_report_test
// --gtest_also_run_disabled_tests --gtest_filter='*ForResults*'
TEST(Evaluate, DISABLED_ForResults) {
  const char* out = std::getenv("VEIL_EVAL_OUT");
  if (!out) GTEST_SKIP() << "set VEIL_EVAL_OUT";
  auto c = ci_config(out);
  c.designs = {"plain", kUnprotectedSplit};
  c.steps = 20;
  c.attack_records = 4;
  c.attack_tokens = 32;
  auto report = run_evaluation(c);
  EXPECT_EQ(report["cells"].size(), 2u);
}

}  // namespace
}  // namespace veil::eval
