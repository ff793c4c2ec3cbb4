// The Jinja subset on real chat templates (ChatML, Zephyr, Llama-2, Llama-3 from the shared
// assets), Hugging Face's whitespace rules, and hostile templates that must fail cleanly.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/shared_assets.h"
#include "veil/serve/chat_template.h"

namespace veil::serve {
namespace {

using nlohmann::json;

json ctx(json messages, bool gen = true) {
  return {{"messages", std::move(messages)}, {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_generation_prompt", gen}};
}
const json kChat = json::array({{{"role", "system"}, {"content", "Be brief."}},
                                {{"role", "user"}, {"content", "Hi"}},
                                {{"role", "assistant"}, {"content", "Hello."}},
                                {{"role", "user"}, {"content", "Bye"}}});

std::string render(const std::string& tmpl, const json& c) { return ChatTemplate::parse(tmpl).render(c); }

TEST(ChatTemplate, ChatML) {
  const std::string t =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  EXPECT_EQ(render(t, ctx(kChat)),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render(t, ctx(json::array({{{"role", "user"}, {"content", "x"}}}), false)), "<|im_start|>user\nx<|im_end|>\n");
}

TEST(ChatTemplate, ZephyrWithTrimBlocksAndLstripBlocks) {
  // TinyLlama-1.1B-Chat / Zephyr's template, newlines and indentation as shipped.
  const std::string t =
      "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
      "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
      "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
      "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
  EXPECT_EQ(render(t, ctx(kChat)),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, Llama2RaisesOnRolesThatDoNotAlternate) {
  const std::string t =
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
      "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
      "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
      "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
      "{% else %}{% set content = message['content'] %}{% endif %}"
      "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
      "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
  EXPECT_EQ(render(t, ctx(kChat)), "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  const json bad = json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}});
  try {
    (void)render(t, ctx(bad));
    FAIL() << "expected raise_exception";
  } catch (const TemplateRaised& e) {
    EXPECT_STREQ(e.what(), "Conversation roles must alternate user/assistant/user/assistant/...");
  }
}

TEST(ChatTemplate, Llama3FromSharedAssets) {
  VEIL_REQUIRE_SHARED(assets);
  std::ifstream f(assets / "tokenizers/llama3/tokenizer_config.json");
  if (!f) GTEST_SKIP() << "no tokenizers/llama3/tokenizer_config.json";
  const json cfg = json::parse(f);
  ASSERT_TRUE(cfg.contains("chat_template"));
  json c = ctx(json::array({{{"role", "system"}, {"content", "  Be brief. "}}, {{"role", "user"}, {"content", "Hi\n"}}}));
  c["bos_token"] = cfg["bos_token"];
  EXPECT_EQ(ChatTemplate::parse(cfg["chat_template"].get<std::string>()).render(c),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, WhitespaceControlLoopVariablesAndExpressions) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c", {}), "abc");
  EXPECT_EQ(render("{# note #}x{%- if true %} y{% endif %}", {}), "x y");
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}", ctx(kChat)),
            "1/4,2/4,3/4,4/4");
  EXPECT_EQ(render("{{ messages | length }} {{ messages[-1].content | upper }} {{ 'a' ~ 1 }} {{ 7 // 2 }} {{ -7 % 3 }}", ctx(kChat)),
            "4 BYE a1 3 2");
  EXPECT_EQ(render("{{ x is defined }} {{ x is not defined }} {{ none is none }} {{ 'ab' in 'cabd' }} {{ 3 not in [1, 2] }}", {}),
            "False True True True True");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.get('z', 'none') }}", {{"d", {{"a", 1}}}}), "a=1;none");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}", {}), "empty");
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", {}), "1") << "set inside a loop is scoped";
  EXPECT_EQ(render("{{ '  a b  '.strip() }}|{{ 'abc'.startswith('ab') }}|{{ ['a','b'] | join('-') }}|{{ messages[1:3] | length }}", ctx(kChat)),
            "a b|True|a-b|2");
  EXPECT_THROW((void)render("{{ {'k': 1} }}", {}), TemplateError) << "dict literals are not in the subset";
}

TEST(ChatTemplate, NamespacesAreSharedAcrossLoopScopes) {
  // As Qwen2's and DeepSeek's templates find the system message and the last user turn.
  const std::string t =
      "{% set ns = namespace(found=false, last=-1) %}{% for m in messages %}{% if m['role'] == 'system' %}"
      "{% set ns.found = true %}{% endif %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}"
      "{{ ns.found }} {{ ns.last }}";
  EXPECT_EQ(render(t, ctx(kChat)), "True 3");
}

TEST(ChatTemplate, UnsupportedAndMalformedTemplatesFailWithTheirName) {
  for (const std::string t : {"{% macro m() %}{% endmacro %}", "{% for x in y %}", "{{ x ", "{% if %}", "{{ 'abc }}",
                              "{% set d = messages[0] %}{% set d.role = 2 %}", "{% endfor %}", "{{ x | no_such_filter }}",
                              "{{ 'a'.upper(x=1) }}"}) {
    try {
      (void)render(t, ctx(kChat));
      ADD_FAILURE() << "accepted: " << t;
    } catch (const TemplateError& e) {
      EXPECT_NE(std::string(e.what()).find("chat template"), std::string::npos) << e.what();
    }
  }
}

TEST(ChatTemplate, HostileTemplatesAndInputsAreBounded) {
  // Doubling a string 40 times would need 8 TiB; loops nested 12 deep over 4 messages, 16M steps.
  std::string t = "{% set s = 'xxxxxxxx' %}";
  for (int i = 0; i < 40; ++i) t += "{% set s = s + s %}";
  EXPECT_THROW((void)render(t, ctx(kChat)), TemplateError);
  std::string loops;
  for (int i = 0; i < 12; ++i) loops += "{% for a in messages %}";
  loops += "x";
  for (int i = 0; i < 12; ++i) loops += "{% endfor %}";
  EXPECT_THROW((void)ChatTemplate::parse(loops).render(ctx(kChat), RenderLimits{.max_steps = 100000}), TemplateError);
  // Deep nesting of parentheses and blocks is refused by the parser, not by the stack.
  EXPECT_THROW((void)ChatTemplate::parse("{{ " + std::string(100000, '(')), TemplateError);
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "{% if true %}";
  EXPECT_THROW((void)ChatTemplate::parse(deep), TemplateError);
  // Messages are data: Jinja in a message is not evaluated.
  EXPECT_EQ(render("{% for m in messages %}{{ m.content }}{% endfor %}", ctx(json::array({{{"role", "user"}, {"content", "{{ 7*7 }}"}}}))),
            "{{ 7*7 }}");
  EXPECT_THROW((void)render("{{ 9223372036854775807 + 1 }}", {}), TemplateError);
  EXPECT_THROW((void)render("{{ 1 // 0 }}", {}), TemplateError);
  EXPECT_THROW((void)render("{{ x.y }}", {}), TemplateError) << "attribute of undefined";
}

}  // namespace
}  // namespace veil::serve
