// Requests to token ids (chat template, tokenizer, context limits) and generated ids to text.
#include "veil/serve/engine.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "veil/tokenizer/tokenizer.h"
#include "veil/util/check.h"

namespace veil::serve {

Engine::Engine(std::shared_ptr<const tokenizer::Tokenizer> tok, std::vector<ServedModel> models, EngineConfig cfg)
    : tok_(std::move(tok)), models_(std::move(models)), cfg_(std::move(cfg)) {
  VEIL_CHECK_ARG(tok_ != nullptr, "serve: no tokenizer");
  VEIL_CHECK_ARG(!models_.empty(), "serve: no models to serve");
  std::set<std::string> names;
  for (const auto& m : models_) {
    VEIL_CHECK_ARG(!m.name.empty() && m.generate, "serve: a served model needs a name and a generate function");
    VEIL_CHECK_ARG(names.insert(m.name).second, "serve: model name '", m.name, "' is served twice");
  }
  if (cfg_.chat_template.empty()) {
    template_error_ = util::cat(cfg_.template_name, " has no chat_template; chat completions need one (give --chat-template)");
  } else {
    try {
      template_ = ChatTemplate::parse(cfg_.chat_template);
    } catch (const TemplateError& e) {
      template_error_ = util::cat("the chat template of ", cfg_.template_name, " uses Jinja this server does not support: ", e.what());
    }
  }
}

PreparedRequest Engine::prepare(CompletionRequest req) const {
  PreparedRequest p;
  for (const auto& m : models_)
    if (m.name == req.model) p.model = &m;
  if (!p.model)
    throw ApiError(404, util::cat("the model '", req.model, "' does not exist (GET /v1/models lists the served models)"),
                   "invalid_request_error", "model", "model_not_found");
  std::string text = req.prompt;
  bool add_special = true;
  if (req.chat) {
    if (!template_) throw ApiError(400, template_error_, "invalid_request_error", "messages", "chat_template_unsupported");
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::json ctx = {{"messages", std::move(msgs)}, {"add_generation_prompt", true},
                          {"bos_token", cfg_.bos_token}, {"eos_token", cfg_.eos_token}};
    try {
      text = template_->render(ctx, RenderLimits{.max_output_bytes = 2 * cfg_.limits.max_prompt_bytes + 4096});
    } catch (const TemplateRaised& e) {
      throw ApiError(400, util::cat("the chat template refused the messages: ", e.what()), "invalid_request_error", "messages");
    } catch (const TemplateError& e) {
      throw ApiError(400, util::cat("cannot render the chat template of ", cfg_.template_name, ": ", e.what()),
                     "invalid_request_error", "messages", "chat_template_unsupported");
    }
    add_special = false;  // as transformers' apply_chat_template: the template writes BOS itself
  }
  for (auto id : tok_->encode(text, add_special)) p.prompt_ids.push_back(id);
  if (p.prompt_ids.empty()) {
    auto bos = tok_->bos_id();
    if (!bos) throw ApiError(400, "the prompt is empty and the tokenizer has no BOS token", "invalid_request_error", "prompt");
    p.prompt_ids.push_back(*bos);
  }
  const auto n_prompt = static_cast<std::int64_t>(p.prompt_ids.size());
  std::int64_t max_new = req.max_tokens.value_or(req.chat ? cfg_.limits.max_tokens : 16);
  if (cfg_.context_length > 0) {
    const auto room = cfg_.context_length - n_prompt;
    if (room < 1 || (req.max_tokens && *req.max_tokens > room))
      throw ApiError(400,
                     util::cat("this model's maximum context length is ", cfg_.context_length, " tokens; the prompt has ",
                               n_prompt, (req.max_tokens ? util::cat(" and max_tokens is ", *req.max_tokens) : std::string()),
                               " (reduce the prompt or max_tokens)"),
                     "invalid_request_error", req.chat ? "messages" : "prompt", "context_length_exceeded");
    max_new = std::min(max_new, room);
  }
  p.gen.max_new_tokens = max_new;
  // Dividing logits by a temperature near 0 overflows to inf/NaN: below 1e-3 it is greedy.
  p.gen.temperature = req.temperature < 1e-3 ? 0.0 : req.temperature;
  p.gen.top_p = req.top_p;
  p.gen.seed = req.seed.value_or(0);
  p.gen.stop_tokens = cfg_.stop_tokens;
  p.request = std::move(req);
  return p;
}

CompletionResult Engine::run(const PreparedRequest& p, const std::function<bool(const std::string&)>& on_text) const {
  CompletionResult r;
  r.prompt_tokens = static_cast<std::int64_t>(p.prompt_ids.size());
  tokenizer::StreamDecoder decoder(*tok_);
  StopFilter stops(p.request.stop);
  bool client_gone = false, hit_stop_token = false;
  auto emit = [&](const std::string& text) {
    if (text.empty() || client_gone) return;
    r.text += text;
    if (!on_text(text)) client_gone = true;
  };
  auto on_token = [&](std::int64_t id) {
    ++r.completion_tokens;
    if (std::find(p.gen.stop_tokens.begin(), p.gen.stop_tokens.end(), id) != p.gen.stop_tokens.end()) hit_stop_token = true;
    emit(stops.push(decoder.push(static_cast<tokenizer::TokenId>(id))));
    return !client_gone && !stops.stopped();
  };
  (void)p.model->generate(p.prompt_ids, p.gen, on_token);
  if (!stops.stopped()) emit(stops.push(decoder.flush()));
  if (!stops.stopped()) emit(stops.flush());
  r.finish_reason = hit_stop_token || stops.stopped() ? "stop" : "length";
  return r;
}

std::string StopFilter::push(const std::string& text) {
  if (stopped_) return {};
  held_ += text;
  std::size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, cut);
    held_.clear();
    return out;
  }
  std::size_t keep = 0;  // the longest tail of held_ that begins a stop sequence
  for (const auto& s : stops_)
    for (std::size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopFilter::flush() {
  if (stopped_) return {};
  return std::exchange(held_, {});
}

}  // namespace veil::serve
