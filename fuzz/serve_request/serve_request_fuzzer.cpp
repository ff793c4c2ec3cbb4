// Feeds arbitrary bytes to what `veil serve` reads from clients and model files. The first byte
// picks the target:
//   0: a /v1/completions body; 1: a /v1/chat/completions body;
//   2: a chat template, then "\n--messages--\n", then a chat body whose messages it renders.
// Only the documented ApiError, TemplateError and TemplateRaised are caught; anything else (another
// exception, a crash, a sanitizer report, a hang, unbounded memory) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "veil/serve/chat_template.h"
#include "veil/serve/request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace veil::serve;
  try {
    if (data[0] % 3 < 2) {
      (void)parse_completion_request(in, data[0] % 3 == 1);
      return 0;
    }
    const auto sep = in.find("\n--messages--\n");
    const auto tmpl = ChatTemplate::parse(in.substr(0, sep));
    nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", "hello"}}});
    if (sep != std::string_view::npos) {
      const auto req = parse_completion_request(in.substr(sep + 14), true);
      messages = nlohmann::json::array();
      for (const auto& m : req.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    const nlohmann::json ctx = {{"messages", messages}, {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_generation_prompt", true}};
    (void)tmpl.render(ctx, RenderLimits{.max_output_bytes = 1 << 16, .max_steps = 1 << 14});
  } catch (const ApiError&) {
  } catch (const TemplateError&) {
  } catch (const TemplateRaised&) {
  }
  return 0;
}
