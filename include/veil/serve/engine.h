// What the server generates with: a tokenizer, an optional chat template, and one generate function
// per served model name (the base model and each adapter). The design behind a generate function
// (plain, he-lora, obfuscatune) is the caller's choice (apps/veil/cmd_serve.cpp); this class only
// turns requests into token ids and generated ids back into text.
//
// prepare() runs on the HTTP thread (cheap: template, tokenizer, limits); run() runs on the single
// generation thread (serve/queue.h), so generate functions are never called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "veil/model/generate.h"
#include "veil/serve/chat_template.h"
#include "veil/serve/request.h"

namespace veil::tokenizer {
class Tokenizer;
}

namespace veil::serve {

using GenerateFn = std::function<std::vector<std::int64_t>(std::span<const std::int64_t> prompt, const model::GenerationConfig& cfg,
                                                           const std::function<bool(std::int64_t)>& on_token)>;

struct ServedModel {
  std::string name;
  GenerateFn generate;
};

struct EngineConfig {
  std::int64_t context_length = 0;        // prompt + completion tokens; 0: unknown (not checked)
  std::vector<std::int64_t> stop_tokens;  // EOS ids (tokenizer's and the model config's)
  std::string chat_template;              // empty: chat completions are refused
  std::string template_name;              // where the template came from, for errors
  std::string bos_token, eos_token;       // the strings the template sees
  RequestLimits limits;
};

struct PreparedRequest {
  CompletionRequest request;
  std::vector<std::int64_t> prompt_ids;
  model::GenerationConfig gen;
  const ServedModel* model = nullptr;
};

struct CompletionResult {
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
};

class Engine {
 public:
  // Throws std::invalid_argument for duplicate or empty model names, or no models. A template the
  // subset cannot parse is kept as an error: chat requests get it (naming the template), completions
  // still work; template_error() says it at start-up.
  Engine(std::shared_ptr<const tokenizer::Tokenizer> tok, std::vector<ServedModel> models, EngineConfig cfg);

  [[nodiscard]] const std::vector<ServedModel>& models() const { return models_; }
  [[nodiscard]] const std::string& template_error() const { return template_error_; }
  [[nodiscard]] const RequestLimits& limits() const { return cfg_.limits; }
  // Validates the request against the models and limits; renders the chat template; tokenizes.
  // Throws ApiError (404 unknown model, 400 context too long / template refused the messages).
  [[nodiscard]] PreparedRequest prepare(CompletionRequest req) const;
  // Generates. `on_text` receives text as it becomes final (stop sequences held back and cut);
  // returning false stops generation (the client went away).
  CompletionResult run(const PreparedRequest& p, const std::function<bool(const std::string&)>& on_text) const;

 private:
  std::shared_ptr<const tokenizer::Tokenizer> tok_;
  std::vector<ServedModel> models_;
  EngineConfig cfg_;
  std::optional<ChatTemplate> template_;
  std::string template_error_;
};

// Holds back text that may start a stop sequence; cuts at the first one found.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  [[nodiscard]] std::string push(const std::string& text);  // the text now safe to emit
  [[nodiscard]] std::string flush();                          // the rest (no stop was found)
  [[nodiscard]] bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace veil::serve
