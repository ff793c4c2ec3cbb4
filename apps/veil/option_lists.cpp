#include "option_lists.h"

#include "veil/util/check.h"

namespace veil::cli {

std::map<std::string, std::string> parse_key_values(const std::vector<std::string>& items, std::string_view flag) {
  std::map<std::string, std::string> out;
  for (const auto& kv : items) {
    const auto eq = kv.find('=');
    VEIL_CHECK_ARG(eq != std::string::npos && eq > 0, flag, " '", kv, "': expected key=value");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> split_list(const std::string& list, std::string_view flag) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  for (std::size_t pos = 0;;) {
    const auto comma = list.find(',', pos);
    auto item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    VEIL_CHECK_ARG(!item.empty(), flag, " '", list, "': empty item in the comma list");
    out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace veil::cli
