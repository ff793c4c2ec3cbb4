// `veil party --config FILE`: a party's TOML configuration, possibly handed over by another
// organisation. Any bytes must give a PartyFile or a ConfigError, nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "veil/config/party_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = veil::config::parse_party_file(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
    for (const auto& s : f.sections)
      for (const auto& e : s.entries) (void)veil::config::where(f.path, e.at);
  } catch (const veil::config::ConfigError&) {
  }
  return 0;
}
