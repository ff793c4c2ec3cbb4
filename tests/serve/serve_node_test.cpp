// `veil serve` driven by the official OpenAI Node client (npm package `openai`, installed into
// tests/serve/node by scripts/setup.sh): models, greedy completions equal to `veil generate`,
// streaming equal to non-streaming, chat through the template, and the client's error types.
#include "serve/serve_harness.h"

namespace veil::testing {
namespace {

using nlohmann::json;

TEST(ServeNode, OfficialOpenAIClient) {
  if (shell("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1").status != 0)
    GTEST_SKIP() << "node and npm are not installed (scripts/setup.sh installs them)";
  const auto node_dir = std::filesystem::path(VEIL_SOURCE_DIR) / "tests/serve/node";
  if (!std::filesystem::exists(node_dir / "node_modules/openai/package.json")) {
    auto r = shell("cd " + sh(node_dir.string()) + " && npm ci --no-audit --no-fund 2>&1");
    ASSERT_EQ(r.status, 0) << "npm ci failed (run scripts/setup.sh):\n" << r.out;
  }
  const auto dir = scratch_dir();
  std::ofstream(dir / "chat.jinja") << "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] | trim }}\n"
                                       "{% else %}{{ m['role'] + ': ' + m['content'] }}\n{% endif %}{% endfor %}"
                                       "{% if add_generation_prompt %}assistant:{% endif %}";
  ServeProcess s({"--insecure", "--host", "127.0.0.1", "--chat-template", (dir / "chat.jinja").string()}, "serve", true, dir);
  ASSERT_TRUE(s.up()) << s.err();
  const std::string prompt = "Mr. Bennet was";
  const std::string expected = veil_generate(prompt, 20);
  auto r = shell("cd " + sh(node_dir.string()) + " && OPENAI_API_KEY=" + sh(kTestApiKey) + " node client.mjs " + sh(s.url("/v1")) +
                 " veil-austen-tiny " + sh(prompt) + " 20 veil-austen-tiny 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["models"], json::array({"veil-austen-tiny"}));
  EXPECT_EQ(j["completion"]["text"], expected);
  EXPECT_EQ(j["completion"]["object"], "text_completion");
  EXPECT_EQ(j["stream"]["text"], expected);
  EXPECT_EQ(j["stream"]["finish_reason"], j["completion"]["finish_reason"]);
  EXPECT_EQ(j["stream"]["usage"], j["completion"]["usage"]);
  EXPECT_EQ(j["chat"]["role"], "assistant");
  EXPECT_EQ(j["chat"]["streamed"], j["chat"]["text"]);
  EXPECT_EQ(j["unknown_model"]["status"], 404);
  EXPECT_EQ(j["unknown_model"]["code"], "model_not_found");
  EXPECT_EQ(j["unknown_model"]["is_api_error"], true);
  EXPECT_EQ(j["bad_temperature"]["status"], 400);
  EXPECT_EQ(j["bad_temperature"]["param"], "temperature");
  EXPECT_EQ(j["wrong_key"]["status"], 401);
  EXPECT_EQ(j["wrong_key"]["is_auth_error"], true);
}

}  // namespace
}  // namespace veil::testing
