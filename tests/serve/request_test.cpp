// Validation of completion requests, the stop-sequence filter, and the bounded queue.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "veil/serve/engine.h"
#include "veil/serve/queue.h"
#include "veil/serve/request.h"

namespace veil::serve {
namespace {

ApiError error_of(const std::string& body, bool chat = false) {
  try {
    (void)parse_completion_request(body, chat);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "accepted");
}

TEST(Request, ParsesEveryField) {
  auto r = parse_completion_request(
      R"({"model":"m","prompt":["hi"],"max_tokens":5,"temperature":0,"top_p":0.5,"stop":["a","b"],"seed":-1,"stream":true,
          "stream_options":{"include_usage":true},"n":1,"user":"ignored","logprobs":null,"presence_penalty":0})",
      false);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "hi");
  EXPECT_EQ(r.max_tokens, 5);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_EQ(r.top_p, 0.5);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.seed, UINT64_MAX);
  EXPECT_TRUE(r.stream && r.include_usage);
  auto c = parse_completion_request(
      R"({"model":"m","messages":[{"role":"developer","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "max_completion_tokens":3,"stop":"x"})",
      true);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[0].role, "system");
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_EQ(c.max_tokens, 3);
  EXPECT_EQ(c.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(c.temperature, 1.0) << "OpenAI's default";
}

TEST(Request, RejectsEachBadFieldNamingIt) {
  struct Case {
    std::string body;
    bool chat;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"", false, ""},
      {"nul", false, ""},
      {"\"str\"", false, ""},
      {R"({"prompt":"x"})", false, "model"},
      {R"({"model":7,"prompt":"x"})", false, "model"},
      {R"({"model":"","prompt":"x"})", false, "model"},
      {R"({"model":"m","prompt":["a","b"]})", false, "prompt"},
      {R"({"model":"m","prompt":"x","max_tokens":1.5})", false, "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":-3})", false, "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":18446744073709551615})", false, "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":5000})", false, "max_tokens"},
      {R"({"model":"m","prompt":"x","temperature":"0"})", false, "temperature"},
      {R"({"model":"m","prompt":"x","temperature":-0.1})", false, "temperature"},
      {R"({"model":"m","prompt":"x","top_p":1.01})", false, "top_p"},
      {R"({"model":"m","prompt":"x","n":0})", false, "n"},
      {R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", false, "stop"},
      {R"({"model":"m","prompt":"x","stop":""})", false, "stop"},
      {R"({"model":"m","prompt":"x","stop":{"a":1}})", false, "stop"},
      {R"({"model":"m","prompt":"x","seed":1.5})", false, "seed"},
      {R"({"model":"m","prompt":"x","stream_options":{"include_usage":1}})", false, "stream_options.include_usage"},
      {R"({"model":"m","prompt":"x","echo":true})", false, "echo"},
      {R"({"model":"m","prompt":"x","best_of":3})", false, "best_of"},
      {R"({"model":"m","prompt":"x","frequency_penalty":0.5})", false, "frequency_penalty"},
      {R"({"model":"m"})", true, "messages"},
      {R"({"model":"m","messages":{}})", true, "messages"},
      {R"({"model":"m","messages":["hi"]})", true, "messages[0]"},
      {R"({"model":"m","messages":[{"content":"hi"}]})", true, "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", true, "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"x"}]}]})", true, "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})", true, "tools"},
  };
  for (const auto& c : cases) {
    const auto e = error_of(c.body, c.chat);
    EXPECT_EQ(e.status(), 400) << c.body;
    EXPECT_EQ(e.param(), c.param) << c.body << ": " << e.what();
    const auto j = e.to_json();
    EXPECT_TRUE(j["error"].contains("message") && j["error"].contains("type") && j["error"].contains("code")) << j.dump();
  }
}

TEST(Request, SizeAndNestingLimitsComeBeforeParsing) {
  EXPECT_EQ(json_nesting_depth(R"({"a":[{"b":"[[[[["}]})"), 3u);
  EXPECT_EQ(error_of(std::string(100000, '[')).status(), 400);
  const RequestLimits small{.max_prompt_bytes = 10};
  try {
    (void)parse_completion_request(R"({"model":"m","prompt":"01234567890"})", false, small);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param(), "prompt");
  }
  std::string many = R"({"model":"m","messages":[)";
  for (int i = 0; i < 300; ++i) many += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  EXPECT_EQ(error_of(many + "]}", true).param(), "messages");
}

TEST(StopFilter, HoldsBackPrefixesAndCutsAtTheFirstStop) {
  StopFilter f({"END", "xyz"});
  EXPECT_EQ(f.push("hello E"), "hello ");
  EXPECT_EQ(f.push("N"), "");
  EXPECT_EQ(f.push("x"), "EN") << "not END after all, but x may begin xyz";
  EXPECT_EQ(f.push("yz and more"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.flush(), "");
  StopFilter g({"stop"});
  EXPECT_EQ(g.push("no st"), "no ");
  EXPECT_EQ(g.flush(), "st");
  StopFilter none({});
  EXPECT_EQ(none.push("abc"), "abc");
}

TEST(GenerationQueue, RefusesBeyondCapacityAndWhileDraining) {
  GenerationQueue q(1);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> ran{0};
  EXPECT_EQ(q.submit([&] { gate.wait(); ++ran; }), GenerationQueue::Admit::kOk);
  for (int i = 0; i < 100 && !q.busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(q.busy());
  EXPECT_EQ(q.submit([&] { ++ran; }), GenerationQueue::Admit::kOk);
  EXPECT_EQ(q.submit([&] { ++ran; }), GenerationQueue::Admit::kFull);
  EXPECT_EQ(q.waiting(), 1u);
  std::thread drainer([&] { q.drain(); });
  for (int i = 0; i < 100 && !q.draining(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(q.submit([&] { ++ran; }), GenerationQueue::Admit::kDraining);
  release.set_value();
  drainer.join();
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace veil::serve
