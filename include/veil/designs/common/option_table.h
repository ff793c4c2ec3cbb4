// One declarative table of a design's `--opt key=value` options, one parser with one error style,
// and the help text rendered from the same table (issue #16 item 2).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace veil::designs::common {

// One option: its key, type, accepted range or values, default (as typed on the command line) and a
// one-line help. Build entries with the factory functions below.
struct OptionSpec {
  enum class Kind { kInt, kDouble, kBool, kString, kEnum, kIntList };
  std::string key;
  Kind kind = Kind::kString;
  std::string default_value;         // as the user would type it; "" for none
  std::string help;                  // one line
  double min = 0, max = 0;           // kInt, kDouble, kIntList elements: inclusive range
  std::vector<std::string> choices;  // kEnum: accepted values

  static OptionSpec integer(std::string key, std::int64_t def, std::int64_t min, std::int64_t max, std::string help);
  static OptionSpec real(std::string key, double def, double min, double max, std::string help);
  static OptionSpec boolean(std::string key, bool def, std::string help);
  static OptionSpec string(std::string key, std::string def, std::string help);
  static OptionSpec enumeration(std::string key, std::string def, std::vector<std::string> choices, std::string help);
  // Comma-separated integers, each within [min, max] ("4,8,16").
  static OptionSpec int_list(std::string key, std::string def, std::int64_t min, std::int64_t max, std::string help);
};

using OptionValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>>;

// The parsed options: every key of the table, set from the user's value or the default. Getters
// throw std::invalid_argument for a key absent from the table or asked for with the wrong type.
class ParsedOptions {
 public:
  [[nodiscard]] std::int64_t integer(const std::string& key) const;
  [[nodiscard]] double real(const std::string& key) const;
  [[nodiscard]] bool boolean(const std::string& key) const;
  // kString and kEnum values.
  [[nodiscard]] const std::string& string(const std::string& key) const;
  [[nodiscard]] const std::vector<std::int64_t>& int_list(const std::string& key) const;
  // Whether the user gave the key (rather than the default applying).
  [[nodiscard]] bool given(const std::string& key) const;

 private:
  friend class OptionTable;
  [[nodiscard]] const OptionValue& at(const std::string& key) const;
  std::string design_;
  std::map<std::string, OptionValue> values_;
  std::map<std::string, bool> given_;
};

class OptionTable {
 public:
  // Throws std::invalid_argument on a duplicate key, an empty key, a default outside its own range,
  // or an enum default that is not one of its choices.
  OptionTable(std::string design, std::vector<OptionSpec> specs);

  // Parses the --opt pairs. Every error is std::invalid_argument worded
  //   "design NAME: option 'KEY': PROBLEM (accepted: ...)"
  // an unknown key names every accepted key.
  [[nodiscard]] ParsedOptions parse(const std::map<std::string, std::string>& opts) const;

  // One line per option: "  key=<accepted>  help (default: value)".
  [[nodiscard]] std::string help() const;

  [[nodiscard]] const std::string& design() const { return design_; }
  [[nodiscard]] const std::vector<OptionSpec>& specs() const { return specs_; }

 private:
  [[nodiscard]] OptionValue convert(const OptionSpec& spec, const std::string& value) const;
  std::string design_;
  std::vector<OptionSpec> specs_;
};

// "what values KEY accepts", as the error messages and help text print it ("1..64", "on|off", ...).
[[nodiscard]] std::string accepted_values(const OptionSpec& spec);

}  // namespace veil::designs::common
