// A party's configuration file (`veil party --config FILE`, docs/deploy.md): TOML whose keys are the
// long option names of the `veil` command the party runs. This header only reads the file into
// keys, values and their positions; which keys exist is the CLI's business (apps/veil/cmd_party.cpp),
// so the file and the flags cannot drift apart.
//
//   role = "worker"                 # data-owner | worker | enclave | model-owner
//   listen = "0.0.0.0:7001"         # --listen 0.0.0.0:7001
//   opt = { rank = 8 }              # --opt rank=8   (a table: one --opt per entry)
//   [finetune]                      # data-owner only: keys for `veil finetune` alone
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace veil::config {

// Where a key or value stands in the file (1-based; 0 when unknown).
struct Position {
  std::uint32_t line = 0, column = 0;
};

// One TOML value, as command-line text where it is a scalar.
struct Value {
  enum class Kind { kString, kInteger, kFloat, kBool, kArray, kTable };
  Kind kind = Kind::kString;
  std::string text;                                  // scalars: "8", "0.5", "true", "a string"
  std::vector<Value> items;       // kArray: the elements; kTable: the values, in file order
  std::vector<std::string> keys;  // kTable: the key of each of `items`
  Position at;
  [[nodiscard]] bool scalar() const { return kind != Kind::kArray && kind != Kind::kTable; }
  [[nodiscard]] const char* kind_name() const;
};

struct Entry {
  std::string key;
  Value value;
  Position at;
};

struct Section {
  std::string name;  // "" for the top level
  std::vector<Entry> entries;
  Position at;
};

struct PartyFile {
  std::filesystem::path path;  // as given
  std::filesystem::path dir;   // relative paths in the file resolve against this
  std::string role;
  Position role_at;
  std::vector<Section> sections;  // [0] is the top level; then each [section] in file order
};

// "FILE:LINE:COLUMN: message" style errors; the CLI reports them as bad input (exit 2).
class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses `text` read from `path` (used for messages and for `dir`). Throws ConfigError for bad TOML
// (with line and column), a missing or non-string `role`, nested sections, or tables of tables.
// Files above 1 MiB are refused (a configuration is a few hundred bytes).
[[nodiscard]] PartyFile parse_party_file(std::string_view text, const std::filesystem::path& path);
[[nodiscard]] PartyFile load_party_file(const std::filesystem::path& path);

// "FILE:LINE:COL" (or "FILE" when the position is unknown).
[[nodiscard]] std::string where(const std::filesystem::path& path, Position at);

}  // namespace veil::config
