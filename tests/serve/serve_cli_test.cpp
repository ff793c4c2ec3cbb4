// `veil serve` as a process, driven with curl: greedy completions equal `veil generate`, streaming
// equals non-streaming, OpenAI-shaped errors for each bad request, 429 beyond the queue, 503 and a
// clean exit on SIGTERM, TLS and client certificates. Every client here may be hostile.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <future>

#include "designs/he_lora/audit_check.h"
#include "serve/serve_harness.h"
#include "transport/tls_support.h"
#include "veil/transport/audit_dir.h"

namespace veil::testing {
namespace {

using nlohmann::json;

const std::string kChatml =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string completion_body(const std::string& prompt, int max_tokens, bool stream = false) {
  return json{{"model", "veil-austen-tiny"}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}}.dump();
}

TEST(ServeCli, GreedyCompletionEqualsVeilGenerateAndStreamingEqualsNonStreaming) {
  ServeProcess s({"--insecure", "--host", "127.0.0.1"}, "serve");
  ASSERT_TRUE(s.up()) << s.err();
  const std::string prompt = "It is a truth universally acknowledged";
  const std::string expected = veil_generate(prompt, 24);
  ASSERT_FALSE(expected.empty());

  auto r = curl(s, "POST", "/v1/completions", completion_body(prompt, 24));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], expected);
  EXPECT_TRUE(j["choices"][0]["finish_reason"] == "length" || j["choices"][0]["finish_reason"] == "stop");
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 24);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());

  auto st = curl(s, "POST", "/v1/completions", completion_body(prompt, 24, true), "-N");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_NE(st.headers.find("text/event-stream"), std::string::npos);
  const auto ev = parse_sse(st.body);
  EXPECT_TRUE(ev.done) << st.body;
  EXPECT_EQ(ev.text, expected);
  ASSERT_FALSE(ev.events.empty());
  EXPECT_EQ(ev.events.back()["choices"][0]["finish_reason"], j["choices"][0]["finish_reason"]);

  // A stop sequence cuts the text before it, in both modes, with finish_reason "stop".
  const auto cut = expected.find(' ', 3);
  ASSERT_NE(cut, std::string::npos);
  const std::string stop = expected.substr(cut, 3);
  json body = json::parse(completion_body(prompt, 24));
  body["stop"] = json::array({stop, "zzzz-never"});
  auto sr = curl(s, "POST", "/v1/completions", body.dump());
  ASSERT_EQ(sr.status, 200) << sr.body;
  EXPECT_EQ(sr.json()["choices"][0]["text"], expected.substr(0, expected.find(stop)));
  EXPECT_EQ(sr.json()["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  EXPECT_EQ(parse_sse(curl(s, "POST", "/v1/completions", body.dump(), "-N").body).text, expected.substr(0, expected.find(stop)));

  // A temperature too small to divide by is greedy, not NaN.
  json tiny_t = json::parse(completion_body(prompt, 24));
  tiny_t["temperature"] = 1e-300;
  EXPECT_EQ(curl(s, "POST", "/v1/completions", tiny_t.dump()).json()["choices"][0]["text"], expected);

  // Seeded sampling repeats itself.
  json sampled = json::parse(completion_body(prompt, 16));
  sampled["temperature"] = 1.0;
  sampled["seed"] = 7;
  EXPECT_EQ(curl(s, "POST", "/v1/completions", sampled.dump()).json()["choices"][0]["text"],
            curl(s, "POST", "/v1/completions", sampled.dump()).json()["choices"][0]["text"]);

  auto models = curl(s, "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json()["data"][0]["id"], "veil-austen-tiny");
}

TEST(ServeCli, EveryBadRequestGetsAnOpenAIErrorAndTheServerLives) {
  const auto dir = scratch_dir();
  ServeProcess s({"--insecure", "--host", "127.0.0.1", "--max-body-bytes", "65536"}, "serve");
  ASSERT_TRUE(s.up()) << s.err();
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "the house of Mr. Bennet ";
  struct Case {
    const char* what;
    std::string path, body;
    int status;
    std::string param, code;
  };
  const std::vector<Case> cases = {
      {"bad JSON", "/v1/completions", "{\"model\": \"veil-austen-tiny\", \"prompt\": ", 400, "", "invalid_json"},
      {"not an object", "/v1/completions", "[1,2]", 400, "", "invalid_type"},
      {"unknown model", "/v1/completions", R"({"model":"gpt-9","prompt":"x"})", 404, "model", "model_not_found"},
      {"missing prompt", "/v1/completions", R"({"model":"veil-austen-tiny"})", 400, "prompt", "missing_required_parameter"},
      {"prompt wrong type", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":42})", 400, "prompt", "invalid_type"},
      {"max_tokens wrong type", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","max_tokens":"9"})", 400, "max_tokens", "invalid_type"},
      {"max_tokens out of range", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","max_tokens":0})", 400, "max_tokens", "invalid_value"},
      {"temperature out of range", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","temperature":2.5})", 400, "temperature", "invalid_value"},
      {"top_p zero", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","top_p":0})", 400, "top_p", "invalid_value"},
      {"n = 2", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","n":2})", 400, "n", "invalid_value"},
      {"stop wrong type", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","stop":[1]})", 400, "stop", "invalid_type"},
      {"stream wrong type", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","stream":"yes"})", 400, "stream", "invalid_type"},
      {"unsupported logprobs", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","logprobs":3})", 400, "logprobs", "unsupported_parameter"},
      {"context too long", "/v1/completions", json{{"model", "veil-austen-tiny"}, {"prompt", long_prompt}}.dump(), 400, "prompt", "context_length_exceeded"},
      {"max_tokens beyond context", "/v1/completions", R"({"model":"veil-austen-tiny","prompt":"x","max_tokens":300})", 400, "prompt", "context_length_exceeded"},
      {"deep nesting", "/v1/completions", std::string(5000, '[') + std::string(5000, ']'), 400, "", "invalid_value"},
      {"oversized body", "/v1/completions", json{{"model", "veil-austen-tiny"}, {"prompt", std::string(100000, 'a')}}.dump(), 413, "", ""},
      {"chat without a template", "/v1/chat/completions", R"({"model":"veil-austen-tiny","messages":[{"role":"user","content":"hi"}]})", 400, "messages", "chat_template_unsupported"},
      {"chat bad role", "/v1/chat/completions", R"({"model":"veil-austen-tiny","messages":[{"role":"root","content":"hi"}]})", 400, "messages[0].role", "invalid_value"},
      {"chat empty messages", "/v1/chat/completions", R"({"model":"veil-austen-tiny","messages":[]})", 400, "messages", "invalid_type"},
  };
  for (const auto& c : cases) {
    auto r = curl(s, "POST", c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    const json j = r.json();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << c.what << ": " << r.body;
    const json& e = j["error"];
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << c.what;
    EXPECT_TRUE(e["type"].is_string()) << c.what;
    EXPECT_EQ(e["param"], c.param.empty() ? json(nullptr) : json(c.param)) << c.what << ": " << r.body;
    if (!c.code.empty()) {
      EXPECT_EQ(e["code"], c.code) << c.what << ": " << r.body;
    }
  }
  // Authentication: none, wrong, and a key that is a prefix of the right one.
  for (const std::string& key : {std::string(), std::string("wrong"), kTestApiKey.substr(0, kTestApiKey.size() - 1)}) {
    auto r = curl(s, "GET", "/v1/models", "", "", key);
    EXPECT_EQ(r.status, 401) << key;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_api_key");
  }
  EXPECT_EQ(curl(s, "GET", "/metrics", "", "", "").status, 401);
  auto nf = curl(s, "GET", "/v1/nothing-here");
  EXPECT_EQ(nf.status, 404);
  EXPECT_TRUE(nf.json().contains("error"));
  // Still alive and answering.
  EXPECT_EQ(curl(s, "GET", "/healthz", "", "", "").status, 200);
  EXPECT_EQ(curl(s, "POST", "/v1/completions", completion_body("Mr. Darcy", 4)).status, 200);
  const auto metrics = curl(s, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("veil_serve_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_EQ(metrics.find("nothing-here"), std::string::npos) << "raw paths must not become metric labels";
}

TEST(ServeCli, ChatUsesTheTemplateAndStreamsTheSameText) {
  const auto dir = scratch_dir();
  std::ofstream(dir / "chatml.jinja") << kChatml;
  ServeProcess s({"--insecure", "--host", "::1", "--chat-template", (dir / "chatml.jinja").string()}, "serve", true, dir);
  ASSERT_TRUE(s.up()) << s.err();
  const json body = {{"model", "veil-austen-tiny"}, {"messages", {{{"role", "user"}, {"content", "Who is Mr. Darcy?"}}}},
                     {"max_tokens", 12}, {"temperature", 0}};
  // ::1 was accepted as loopback; the URL helper uses 127.0.0.1, so talk to [::1].
  auto call = [&](const json& b) {
    return shell("curl -sS -N --max-time 60 -H " + sh("Authorization: Bearer " + kTestApiKey) +
                 " -H 'Content-Type: application/json' -d " + sh(b.dump()) + " " +
                 sh("http://[::1]:" + std::to_string(s.port()) + "/v1/chat/completions"));
  };
  const json j = json::parse(call(body).out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("choices")) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  json sb = body;
  sb["stream"] = true;
  const auto ev = parse_sse(call(sb).out);
  EXPECT_TRUE(ev.done);
  ASSERT_FALSE(ev.events.empty());
  EXPECT_EQ(ev.events.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(ev.events.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(ev.text, j["choices"][0]["message"]["content"]);
}

TEST(ServeCli, InsecureOnlyOnLoopbackAndAuthenticationIsRequired) {
  for (const std::string host : {"0.0.0.0", "localhost", "127.0.0.1.example.com"}) {
    ServeProcess s({"--insecure", "--host", host}, "bad");
    EXPECT_FALSE(s.up()) << host;
    EXPECT_EQ(s.exit_status().value_or(-1), 2) << host << ": " << s.err();
    EXPECT_NE(s.err().find("loopback"), std::string::npos) << s.err();
  }
  ServeProcess nokey({"--insecure"}, "nokey", /*with_key=*/false);
  EXPECT_FALSE(nokey.up());
  EXPECT_NE(nokey.err().find("authenticate"), std::string::npos) << nokey.err();
  ServeProcess notls({}, "notls");
  EXPECT_FALSE(notls.up());
  EXPECT_NE(notls.err().find("--tls-cert"), std::string::npos) << notls.err();
}

TEST(ServeCli, TlsAndClientCertificates) {
  auto pki = TestPki::make("serve_tls");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  {  // TLS + API key
    ServeProcess s({"--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string()}, "tls");
    ASSERT_TRUE(s.up()) << s.err();
    EXPECT_EQ(curl(s, "GET", "/v1/models", "", "--cacert " + sh(pki.ca.string())).status, 200);
    EXPECT_EQ(curl(s, "GET", "/v1/models", "", "--cacert " + sh(pki.other_ca.string())).status, 0) << "a client that does not trust the CA";
    auto plain = shell("curl -sS --max-time 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(s.port()) + "/healthz 2>/dev/null");
    EXPECT_NE(plain.out, "200") << "plain HTTP on the TLS port";
  }
  {  // mutual TLS, no API key
    ServeProcess s({"--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string(), "--tls-ca", pki.ca.string()}, "mtls",
                   /*with_key=*/false);
    ASSERT_TRUE(s.up()) << s.err();
    const std::string ca = "--cacert " + sh(pki.ca.string());
    EXPECT_EQ(curl(s, "GET", "/v1/models", "", ca + " --cert " + sh(pki.client_cert.string()) + " --key " + sh(pki.client_key.string()), "").status, 200);
    EXPECT_EQ(curl(s, "GET", "/v1/models", "", ca, "").status, 0) << "no client certificate";
    EXPECT_EQ(curl(s, "GET", "/v1/models", "", ca + " --cert " + sh(pki.stranger_cert.string()) + " --key " + sh(pki.stranger_key.string()), "").status, 0)
        << "a certificate from another CA";
  }
  ServeProcess badkey({"--tls-cert", pki.server_cert.string(), "--tls-key", pki.client_key.string()}, "badkey");
  EXPECT_FALSE(badkey.up());
  EXPECT_NE(badkey.err().find("--tls-key"), std::string::npos) << badkey.err();
}

TEST(ServeCli, BurstBeyondTheQueueGets429AndSigtermDrains) {
  ServeProcess s({"--insecure", "--host", "127.0.0.1", "--max-queue", "1"}, "serve");
  ASSERT_TRUE(s.up()) << s.err();
  auto rss = [&] {
    const auto metrics = curl(s, "GET", "/metrics").body;
    const auto pos = metrics.find("\nprocess_resident_memory_bytes ");
    return pos == std::string::npos ? 0.0 : std::stod(metrics.substr(pos + 31));
  };
  const double before = rss();
  ASSERT_GT(before, 0);
  json body = json::parse(completion_body("Elizabeth", 200));
  body["temperature"] = 1.0;
  body["seed"] = 3;
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < 24; ++i)
    replies.push_back(std::async(std::launch::async, [&] { return curl(s, "POST", "/v1/completions", body.dump()); }));
  int ok = 0, busy = 0;
  for (auto& f : replies) {
    const auto r = f.get();
    if (r.status == 200) {
      ++ok;
    } else if (r.status == 429) {
      ++busy;
      EXPECT_NE(r.headers.find("Retry-After: 1"), std::string::npos) << r.headers;
      EXPECT_EQ(r.json()["error"]["code"], "rate_limit_exceeded");
    } else {
      ADD_FAILURE() << "status " << r.status << ": " << r.body;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1) << "24 requests at once against a queue of 1";
  const double after = rss();
  EXPECT_LT(after, before + 256e6) << "resident memory grew from " << before << " to " << after << " bytes in the burst";

  // SIGTERM while one request generates: it finishes; the server then exits 0.
  auto inflight = std::async(std::launch::async, [&] { return curl(s, "POST", "/v1/completions", body.dump()); });
  bool generating = false;
  for (int i = 0; i < 200 && !generating; ++i) {
    generating = curl(s, "GET", "/metrics").body.find("\nveil_serve_generating 1") != std::string::npos;
    if (!generating) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(generating);
  s.child().signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto refused = curl(s, "POST", "/v1/completions", body.dump());
  EXPECT_TRUE(refused.status == 503 || refused.status == 0) << "a request after SIGTERM: " << refused.status << " " << refused.body;
  const auto health = curl(s, "GET", "/healthz", "", "", "");
  EXPECT_TRUE(health.status == 503 || health.status == 0) << health.status << " " << health.body;  // 0: already stopped
  if (health.status == 503) {
    EXPECT_EQ(health.body, "draining\n");
  }
  const auto last = inflight.get();
  EXPECT_EQ(last.status, 200) << "the request admitted before SIGTERM finishes: " << last.body;
  EXPECT_EQ(s.child().wait(std::chrono::seconds(20)).value_or(-1), 0) << s.err();
  EXPECT_NE(s.err().find("SIGTERM"), std::string::npos);
}

}  // namespace
}  // namespace veil::testing

namespace veil::testing {
namespace {

TEST(ServeCli, AdaptersServedSideBySideMatchVeilGenerate) {
  const auto dir = scratch_dir();
  // A real adapter: two fine-tuning steps at a high learning rate.
  auto ft = shell(veil_binary().string() + " finetune --model " + sh(tiny_model().string()) + " --data " +
                  sh(std::string(VEIL_SOURCE_DIR) + "/data/private/train/clinic_records.jsonl") + " --out " + sh((dir / "ft").string()) +
                  " --max-steps 1 --batch-size 2 --seq-len 32 --lr 0.05 --quiet 2>&1");
  ASSERT_EQ(ft.status, 0) << ft.out;
  const auto adapter = (dir / "ft").string();
  ServeProcess s({"--insecure", "--host", "127.0.0.1", "--name", "base", "--adapter", "tuned=" + adapter}, "serve", true, dir);
  ASSERT_TRUE(s.up()) << s.err();
  const std::string prompt = "The patient";
  auto ask = [&](const std::string& model) {
    const nlohmann::json b = {{"model", model}, {"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}};
    return curl(s, "POST", "/v1/completions", b.dump()).json()["choices"][0]["text"];
  };
  const std::string with_adapter = shell(veil_binary().string() + " generate --model " + sh(tiny_model().string()) + " --adapter " +
                                         sh(adapter) + " --prompt " + sh(prompt) + " -n 16 2>/dev/null").out;
  EXPECT_EQ(ask("tuned"), with_adapter.substr(0, with_adapter.size() - 1));
  EXPECT_EQ(ask("base"), veil_generate(prompt, 16));
  EXPECT_EQ(ask("tuned"), with_adapter.substr(0, with_adapter.size() - 1)) << "switching back to the adapter";
  EXPECT_EQ(curl(s, "GET", "/v1/models").json()["data"].size(), 2u);
}

}  // namespace
}  // namespace veil::testing

namespace veil::testing {
namespace {

// The protected designs behind `veil serve`: the same greedy text as `veil generate --design`, and
// for he-lora, the in-process workers' audit record of the served request holds only ciphertexts
// under 128-bit parameters (a server that generated in clear behind --design would add nothing).
TEST(ServeCli, ProtectedDesignsServeWhatVeilGenerateGenerates) {
  const std::string prompt = "It is a truth";
  const auto dir = scratch_dir();
  for (const auto& [design, tokens] : std::vector<std::pair<std::string, int>>{{"obfuscatune", 8}, {"he-lora", 3}}) {
    const auto audit = dir / ("audit-" + design);
    ServeProcess s({"--insecure", "--host", "127.0.0.1", "--design", design, "--audit-dir", audit.string()}, "serve-" + design, true, dir);
    ASSERT_TRUE(s.up()) << s.err();
    const auto before = transport::read_audit_dir(audit).size();
    const nlohmann::json b = {{"model", "veil-austen-tiny"}, {"prompt", prompt}, {"max_tokens", tokens}, {"temperature", 0}};
    const auto r = curl(s, "POST", "/v1/completions", b.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    auto g = shell(veil_binary().string() + " generate --design " + design + " --model " + sh(tiny_model().string()) + " --prompt " +
                   sh(prompt) + " -n " + std::to_string(tokens) + " 2>/dev/null");
    ASSERT_EQ(g.status, 0);
    g.out.pop_back();
    EXPECT_EQ(r.json()["choices"][0]["text"], g.out) << design;
    EXPECT_EQ(r.json()["usage"]["completion_tokens"], tokens) << design;
    const auto entries = transport::read_audit_dir(audit);
    EXPECT_GT(entries.size(), before + 10) << design << ": the workers saw nothing of the served request";
    if (design == "he-lora") {
      const auto summary = designs::he_lora::check_worker_audit(entries);
      EXPECT_GT(summary.ciphertexts, 10u);
    }
    std::filesystem::remove_all(audit);
  }
}

}  // namespace
}  // namespace veil::testing

namespace veil::testing {
namespace {

// Sends a streaming request on a raw socket and hangs up after the first event.
bool hang_up_after_first_event(int port, const std::string& body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return ::close(fd), false;
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kTestApiKey +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return ::close(fd), false;
  std::string got;
  char buf[4096];
  ssize_t n;
  while (got.find("data: ") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return got.find("data: ") != std::string::npos;
}

double completion_tokens_total(const ServeProcess& s) {
  const auto m = curl(s, "GET", "/metrics").body;
  const std::string key = "veil_serve_tokens_total{kind=\"completion\"} ";
  const auto pos = m.find(key);
  return pos == std::string::npos ? -1 : std::stod(m.substr(pos + key.size()));
}

// A streaming client that hangs up stops its generation (a naive server would generate on for
// nobody, holding the queue).
TEST(ServeCli, AStreamingClientThatHangsUpStopsItsGeneration) {
  ServeProcess s({"--insecure", "--host", "127.0.0.1", "--max-queue", "1"}, "serve");
  ASSERT_TRUE(s.up()) << s.err();
  nlohmann::json body = {{"model", "veil-austen-tiny"}, {"prompt", "Elizabeth"}, {"max_tokens", 200}, {"temperature", 1.0}, {"seed", 3}};
  const auto full = curl(s, "POST", "/v1/completions", body.dump()).json()["usage"]["completion_tokens"].get<double>();
  ASSERT_GT(full, 60) << "the reference request must be long";
  const double before = completion_tokens_total(s);
  body["stream"] = true;
  ASSERT_TRUE(hang_up_after_first_event(s.port(), body.dump()));
  double after = before;
  for (int i = 0; i < 400 && after == before; ++i) {  // counted when the generation ends
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    after = completion_tokens_total(s);
  }
  EXPECT_GT(after, before);
  EXPECT_LT(after - before, full / 2) << "generation went on after the client hung up";
  EXPECT_EQ(curl(s, "GET", "/healthz", "", "", "").status, 200);
}

}  // namespace
}  // namespace veil::testing
