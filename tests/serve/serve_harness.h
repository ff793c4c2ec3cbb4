// Starting `veil serve` as a child process on a free loopback port and talking to it with curl.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/shared_assets.h"

namespace veil::testing {

inline const std::string kTestApiKey = "test-key-0123456789abcdef";

inline std::filesystem::path tiny_model() { return std::filesystem::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny"; }

// The shell-quoted form of `s`.
inline std::string sh(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Shell {
  int status = -1;
  std::string out;
};
inline Shell shell(const std::string& cmd) {
  Shell r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

// A running `veil serve`; the API key is passed through VEIL_API_KEY.
class ServeProcess {
 public:
  // `dir`: where logs go (default: a fresh scratch_dir(), which empties the test's directory).
  ServeProcess(std::vector<std::string> extra, const std::string& tag, bool with_key = true, std::filesystem::path dir = {}) {
    dir_ = dir.empty() ? scratch_dir() : dir;
    std::vector<std::string> args = {veil_binary().string(), "serve", "--model", tiny_model().string(), "--port", "0"};
    for (auto& a : extra) args.push_back(a);
    if (with_key) ::setenv("VEIL_API_KEY", kTestApiKey.c_str(), 1);
    else ::unsetenv("VEIL_API_KEY");
    child_ = std::make_unique<Child>(args, dir_ / tag);
    ::unsetenv("VEIL_API_KEY");
    const std::regex re(R"(listening on (https?)://([^ ]+):(\d+) )");
    for (int i = 0; i < 600; ++i) {
      std::smatch m;
      const std::string err = child_->err();
      if (std::regex_search(err, m, re)) {
        scheme_ = m[1];
        port_ = std::stoi(m[3]);
        return;
      }
      if (auto st = child_->wait(std::chrono::milliseconds(50))) {
        exit_ = *st;
        return;
      }
    }
  }
  [[nodiscard]] bool up() const { return port_ > 0; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::optional<int> exit_status() const { return exit_; }
  [[nodiscard]] std::string url(const std::string& path = "") const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] std::string err() const { return child_->err(); }
  Child& child() { return *child_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Child> child_;
  std::string scheme_;
  int port_ = 0;
  std::optional<int> exit_;
};

struct HttpReply {
  int status = 0;
  std::string body, headers;
  [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// One request with curl: `method` path, `body` (from a file when large), extra curl flags.
inline HttpReply curl(const ServeProcess& s, const std::string& method, const std::string& path, const std::string& body = "",
                      const std::string& flags = "", const std::string& key = kTestApiKey) {
  static std::atomic<int> counter{0};
  const auto base = s.dir() / ("curl" + std::to_string(counter++));
  std::string cmd = "curl -sS --max-time 60 -o " + sh(base.string() + ".body") + " -D " + sh(base.string() + ".hdr") +
                    " -w '%{http_code}' -X " + method + " " + flags;
  if (!key.empty()) cmd += " -H " + sh("Authorization: Bearer " + key);
  if (!body.empty()) {
    std::ofstream(base.string() + ".req", std::ios::binary) << body;
    cmd += " -H 'Content-Type: application/json' --data-binary @" + sh(base.string() + ".req");
  }
  cmd += " " + sh(s.url(path)) + " 2>/dev/null";
  HttpReply r;
  const auto out = shell(cmd);
  r.status = std::atoi(out.out.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.body = slurp(base.string() + ".body");
  r.headers = slurp(base.string() + ".hdr");
  return r;
}

// `veil generate`'s text for the same prompt (greedy), without its trailing newline.
inline std::string veil_generate(const std::string& prompt, int max_tokens) {
  auto r = shell(veil_binary().string() + " generate --model " + sh(tiny_model().string()) + " --prompt " + sh(prompt) +
                 " -n " + std::to_string(max_tokens) + " 2>/dev/null");
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

// The text of an SSE stream of completions (choices[0].text or .delta.content), and its events.
struct Streamed {
  std::string text;
  std::vector<nlohmann::json> events;
  bool done = false;
};
inline Streamed parse_sse(const std::string& body) {
  Streamed s;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    const auto data = line.substr(6);
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    auto j = nlohmann::json::parse(data, nullptr, false);
    s.events.push_back(j);
    if (j.contains("choices"))
      for (const auto& c : j["choices"]) {
        if (c.contains("text")) s.text += c["text"].get<std::string>();
        if (c.contains("delta") && c["delta"].contains("content")) s.text += c["delta"]["content"].get<std::string>();
      }
  }
  return s;
}

}  // namespace veil::testing
