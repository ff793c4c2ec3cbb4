// veil audit: what a party's audit tap (--audit-dir) holds — per operation, the messages, bytes,
// tensors (dtype, shape) and opaque blobs it received and sent.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "command.h"
#include "veil/transport/audit_summary.h"

namespace veil::cli {

Action add_audit(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("audit", "summarise an audit tap (a party's --audit-dir): what it received and sent");
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("--tap,tap", *dir, "the audit directory (holds index.jsonl)")->required();
  cmd->add_flag("--json", *as_json, "print one JSON object");
  return [=] {
    if (!std::filesystem::is_regular_file(std::filesystem::path(*dir) / "index.jsonl"))
      throw std::invalid_argument("audit: " + *dir + " is not an audit directory (no index.jsonl)");
    const auto s = transport::summarize_audit(*dir);
    if (*as_json) std::printf("%s\n", s.to_json().dump().c_str());
    else std::fputs(s.to_text().c_str(), stdout);
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{86, add_audit};
}

}  // namespace veil::cli
