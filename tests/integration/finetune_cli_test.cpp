// End-to-end: the fine-tuning recipe and the `veil` binary on real files.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "support/shared_assets.h"
#include "veil/designs/registry.h"
#include "veil/train/finetune.h"
#include "veil/util/file_io.h"

namespace veil {
namespace {
namespace fs = std::filesystem;

struct Run {
  int status;
  std::string out;
};

// Runs the veil binary with `args`; stdout and stderr captured separately.
Run veil(const std::string& args, std::string* err = nullptr) {
  auto dir = fs::temp_directory_path();
  auto err_path = dir / ("veil-err-" + std::to_string(::getpid()));
  std::string cmd = std::string(VEIL_BINARY) + " " + args + " 2>" + err_path.string();
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (err) *err = util::read_file(err_path);
  return {WEXITSTATUS(status), out};
}

train::FinetuneConfig small_run(const fs::path& model, const fs::path& out) {
  train::FinetuneConfig c;
  c.model = model;
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.seq_len = 64;
  c.batch_size = 4;
  c.max_steps = 8;
  c.save_every = 3;
  c.max_examples = 80;
  c.optim.lr = 3e-3;
  c.progress = false;
  return c;
}

TEST(Finetune, ResumedRunEndsWithTheSameAdapter) {
  VEIL_REQUIRE_SHARED(assets);
  designs::register_builtin_designs();  // plain is a registered design like the others
  auto dir = testing::scratch_dir();
  auto model = assets / "models/stories260K-hf";
  auto straight = train::run_finetune(small_run(model, dir / "a"));
  EXPECT_EQ(straight.steps, 8);
  EXPECT_LT(straight.final_loss, straight.first_loss);
  // A run interrupted after step 6: its output directory as it was then, then resumed.
  fs::create_directories(dir / "b" / "checkpoints");
  fs::copy(dir / "a/checkpoints/step-000006", dir / "b/checkpoints/step-000006", fs::copy_options::recursive);
  util::write_file_atomic(dir / "b/checkpoints/latest", std::string_view("step-000006"));
  auto cfg = small_run(model, dir / "b");
  cfg.resume = true;
  auto resumed = train::run_finetune(cfg);
  EXPECT_EQ(resumed.steps, 8);
  EXPECT_EQ(util::read_file(dir / "a/adapter_model.safetensors"), util::read_file(dir / "b/adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "a/loss.svg"));
  EXPECT_NE(util::read_file(dir / "a/loss.svg").find("<polyline"), std::string::npos);
}

TEST(Cli, GenerateGreedyOnStories260K) {
  VEIL_REQUIRE_SHARED(assets);
  auto r = veil("generate --model " + (assets / "models/stories260K-hf").string() + " --max-new-tokens 64 --temperature 0");
  EXPECT_EQ(r.status, 0);
  // The float64 reference's greedy text (tests/data/stories260K_golden.json), validated against llama2.c.
  auto golden = testing::read_json(testing::fixture_dir("stories260K_golden.json"));
  EXPECT_EQ(r.out, golden["greedy_text"].get<std::string>() + "\n");
}

TEST(Cli, TokenizeMatchesGolden) {
  VEIL_REQUIRE_SHARED(assets);
  auto tok = (assets / "tokenizers/gpt2/tokenizer.json").string();
  auto r = veil("tokenize --tokenizer " + tok + " --text 'Hello world'");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "15496 995\n");
}

TEST(Cli, FinetuneWritesAPeftAdapterThatGenerateLoads) {
  auto dir = testing::scratch_dir();
  VEIL_REQUIRE_SHARED(assets);
  auto m = (assets / "models/stories260K-hf").string();
  auto r = veil("finetune -q --model " + m + " --data " + std::string(VEIL_SOURCE_DIR) +
                "/data/private/train/clinic_qa.jsonl --max-examples 64 --seq-len 48 --batch-size 8 --max-steps 4 --out " +
                (dir / "ad").string());
  ASSERT_EQ(r.status, 0);
  EXPECT_TRUE(fs::exists(dir / "ad/adapter_config.json"));
  EXPECT_TRUE(fs::exists(dir / "ad/adapter_model.safetensors"));
  auto g = veil("generate --model " + m + " --adapter " + (dir / "ad").string() + " -n 5");
  EXPECT_EQ(g.status, 0);
  auto e = veil("export --model " + m + " --adapter " + (dir / "ad").string() + " --out " + (dir / "merged").string());
  EXPECT_EQ(e.status, 0);
  // The merged model generates what base + adapter generates.
  auto g2 = veil("generate --model " + (dir / "merged").string() + " -n 5");
  EXPECT_EQ(g.out, g2.out);
}

TEST(Cli, EvalScoresMultipleChoiceAndPerplexity) {
  VEIL_REQUIRE_SHARED(assets);
  auto dir = testing::scratch_dir();
  // Two hand-made items the model cannot get wrong and cannot get right by position alone.
  std::ofstream(dir / "mc.jsonl")
      << R"({"context": "Once upon a time, there was a little", "choices": [" girl", " xqzv"], "label": 0})" "\n"
      << R"({"context": "Once upon a time, there was a little", "choices": [" xqzv", " girl"], "label": 1})" "\n";
  auto r = veil("eval -q --model " + (assets / "models/stories260K-hf").string() + " --task " +
                (dir / "mc.jsonl").string() + " --data " + (assets / "data/tinyshakespeare.txt").string() +
                " --max-examples 20 --seq-len 64");
  ASSERT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["items"], 2);
  EXPECT_DOUBLE_EQ(j["acc"].get<double>(), 1.0);
  // A TinyStories model on Shakespeare: far better than uniform over 512 tokens, far from perfect.
  EXPECT_GT(j["perplexity"].get<double>(), 2.0);
  EXPECT_LT(j["perplexity"].get<double>(), 512.0);
}

TEST(Cli, BadInputGivesOneMessageAndNonZeroExit) {
  auto dir = testing::scratch_dir();
  std::string err;
  auto r = veil("generate --model /nonexistent/model -n 3", &err);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(err.find("model not found"), std::string::npos) << err;

  // A truncated safetensors file.
  fs::create_directories(dir / "m");
  fs::copy_file(testing::fixture_dir("tiny-llama3") / "config.json", dir / "m/config.json");
  auto bytes = util::read_file(testing::fixture_dir("tiny-llama3") / "model.safetensors");
  util::write_file_atomic(dir / "m/model.safetensors", std::string_view(bytes).substr(0, bytes.size() / 2));
  r = veil("info " + (dir / "m").string(), &err);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(err.find("veil: error:"), std::string::npos) << err;

  // A dataset line that is not JSON.
  std::ofstream(dir / "bad.jsonl") << "{\"text\": \"fine\"}\nnot json\n";
  VEIL_REQUIRE_SHARED(assets);
  r = veil("finetune -q --model " + (assets / "models/stories260K-hf").string() + " --data " +
               (dir / "bad.jsonl").string() + " --out " + (dir / "o").string(),
           &err);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(err.find("bad.jsonl:2"), std::string::npos) << err;

  // An unknown architecture.
  std::ofstream(dir / "m/config.json") << R"({"model_type": "mamba", "vocab_size": 10})";
  r = veil("info " + (dir / "m").string(), &err);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(err.find("unsupported model_type 'mamba'"), std::string::npos) << err;

  // A design this build does not have.
  r = veil("finetune --model x --data y --out z --design nope", &err);
  EXPECT_NE(r.status, 0);
}

// One exit-code convention (README.md, "The CLI"): 2 for usage and bad input, 3 when another party failed
// or could not be reached, 0 for help.
TEST(Cli, ExitCodesSayWhoseFaultItWas) {
  auto dir = testing::scratch_dir();
  std::string err;
  EXPECT_EQ(veil("--help").status, 0);
  EXPECT_EQ(veil("finetune --help").status, 0);
  // A missing required flag (CLI11 used to exit 106 here) and an unknown flag (109).
  auto r = veil("worker", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("--listen"), std::string::npos) << err;
  EXPECT_EQ(veil("info --no-such-flag x", &err).status, 2) << err;
  // A bad flag value and a missing file.
  EXPECT_EQ(veil("worker --listen 127.0.0.1:0 --max-calls 0 --insecure", &err).status, 2) << err;
  EXPECT_EQ(veil("info " + (dir / "absent").string(), &err).status, 2) << err;
  // A worker that is not there: the peer's fault, not the user's flags.
  VEIL_REQUIRE_SHARED(assets);
  r = veil("finetune -q --model " + (assets / "models/stories260K-hf").string() + " --data " + std::string(VEIL_SOURCE_DIR) +
               "/data/private/train/clinic_qa.jsonl --max-examples 16 --seq-len 32 --batch-size 4 --max-steps 1 --out " +
               (dir / "o").string() + " --workers 127.0.0.1:1 --insecure",
           &err);
  EXPECT_EQ(r.status, 3) << err;
}

// What used to be silent or misleading (issue 22): --seq-len past the model's context, --resume
// without a checkpoint, --max-steps beyond the data.
TEST(Cli, FinetuneSaysWhatItDid) {
  VEIL_REQUIRE_SHARED(assets);
  auto dir = testing::scratch_dir();
  const std::string base = "finetune -q --model " + (assets / "models/stories260K-hf").string() + " --data " +
                           std::string(VEIL_SOURCE_DIR) + "/data/private/train/clinic_qa.jsonl --max-examples 16 ";
  std::string err;
  auto r = veil(base + "--seq-len 1000000 --max-steps 1 --out " + (dir / "a").string(), &err);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(err.find("longer than the model's context (512 positions"), std::string::npos) << err;
  r = veil(base + "--seq-len 64 --batch-size 8 --max-steps 40 --resume --out " + (dir / "b").string(), &err);
  EXPECT_EQ(r.status, 0) << err;
  EXPECT_NE(err.find("--resume: no checkpoint in"), std::string::npos) << err;
  EXPECT_NE(err.find("--max-steps 40 but the data gives 2 steps"), std::string::npos) << err;
}

// `--opt key=value` and comma lists are read one way by every command (apps/veil/option_lists.h):
// an empty list item or a value without '=' is one error naming the flag, before any file is read.
TEST(Cli, EmptyCommaItemAndBadOptAreRefusedNamingTheFlag) {
  std::string err;
  auto r = veil("finetune --model x --data y --out z --insecure --workers 127.0.0.1:1,,127.0.0.1:2", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("--workers '127.0.0.1:1,,127.0.0.1:2': empty item"), std::string::npos) << err;
  r = veil("finetune --model x --data y --out z --lora-targets q_proj,", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("--lora-targets 'q_proj,': empty item"), std::string::npos) << err;
  r = veil("generate --model x --design he-lora --opt novalue --prompt hi", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("--opt 'novalue': expected key=value"), std::string::npos) << err;
  r = veil("compare --model x --data y --out z --attacks nn,,gradient", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("--attacks 'nn,,gradient': empty item"), std::string::npos) << err;
}

// `veil evaluate` became `veil compare` (next to `veil eval`); the old name still runs the same
// command and says so on stderr.
TEST(Cli, EvaluateIsAnAliasOfCompareWithANotice) {
  std::string err;
  EXPECT_EQ(veil("compare --help").status, 0);
  auto r = veil("evaluate --model x --data y --out z --designs plain,", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_NE(err.find("notice: `veil evaluate` is now `veil compare`"), std::string::npos) << err;
  EXPECT_NE(err.find("--designs 'plain,': empty item"), std::string::npos) << err;
  r = veil("compare --model x --data y --out z --designs plain,", &err);
  EXPECT_EQ(r.status, 2) << err;
  EXPECT_EQ(err.find("notice"), std::string::npos) << err;
}

}  // namespace
}  // namespace veil
