// The design option table: typed conversion, one error style, help text.
#include "veil/designs/common/option_table.h"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "veil/util/check.h"

namespace veil::designs::common {
namespace {

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool parse_int(const std::string& s, std::int64_t& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc{} && p == end && !s.empty();
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  std::size_t used = 0;
  try {
    out = std::stod(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == s.size() && std::isfinite(out);
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "on" || s == "true" || s == "1" || s == "yes") return out = true, true;
  if (s == "off" || s == "false" || s == "0" || s == "no") return out = false, true;
  return false;
}

}  // namespace

OptionSpec OptionSpec::integer(std::string key, std::int64_t def, std::int64_t min, std::int64_t max, std::string help) {
  return {std::move(key), Kind::kInt, std::to_string(def), std::move(help), double(min), double(max), {}};
}
OptionSpec OptionSpec::real(std::string key, double def, double min, double max, std::string help) {
  return {std::move(key), Kind::kDouble, number(def), std::move(help), min, max, {}};
}
OptionSpec OptionSpec::boolean(std::string key, bool def, std::string help) {
  return {std::move(key), Kind::kBool, def ? "on" : "off", std::move(help), 0, 0, {}};
}
OptionSpec OptionSpec::string(std::string key, std::string def, std::string help) {
  return {std::move(key), Kind::kString, std::move(def), std::move(help), 0, 0, {}};
}
OptionSpec OptionSpec::enumeration(std::string key, std::string def, std::vector<std::string> choices, std::string help) {
  return {std::move(key), Kind::kEnum, std::move(def), std::move(help), 0, 0, std::move(choices)};
}
OptionSpec OptionSpec::int_list(std::string key, std::string def, std::int64_t min, std::int64_t max, std::string help) {
  return {std::move(key), Kind::kIntList, std::move(def), std::move(help), double(min), double(max), {}};
}

std::string accepted_values(const OptionSpec& spec) {
  using K = OptionSpec::Kind;
  switch (spec.kind) {
    case K::kInt: return number(spec.min) + ".." + number(spec.max);
    case K::kDouble: return number(spec.min) + ".." + number(spec.max);
    case K::kBool: return "on|off";
    case K::kString: return "any text";
    case K::kEnum: return join(spec.choices, "|");
    case K::kIntList: return "comma-separated integers in " + number(spec.min) + ".." + number(spec.max);
  }
  return "";
}

OptionTable::OptionTable(std::string design, std::vector<OptionSpec> specs)
    : design_(std::move(design)), specs_(std::move(specs)) {
  std::set<std::string> seen;
  for (const auto& s : specs_) {
    VEIL_CHECK_ARG(!s.key.empty(), "design ", design_, ": an option has an empty key");
    VEIL_CHECK_ARG(seen.insert(s.key).second, "design ", design_, ": option '", s.key, "' is listed twice");
    if (!s.default_value.empty()) (void)convert(s, s.default_value);  // a bad default fails here
  }
}

OptionValue OptionTable::convert(const OptionSpec& spec, const std::string& value) const {
  using K = OptionSpec::Kind;
  auto fail = [&](const std::string& problem) {
    return std::invalid_argument("design " + design_ + ": option '" + spec.key + "': " + problem + " (accepted: " +
                                 accepted_values(spec) + ")");
  };
  const std::string quoted = "'" + value + "'";
  switch (spec.kind) {
    case K::kInt: {
      std::int64_t v = 0;
      if (!parse_int(value, v)) throw fail(quoted + " is not an integer");
      if (double(v) < spec.min || double(v) > spec.max) throw fail(quoted + " is out of range");
      return v;
    }
    case K::kDouble: {
      double v = 0;
      if (!parse_double(value, v)) throw fail(quoted + " is not a number");
      if (v < spec.min || v > spec.max) throw fail(quoted + " is out of range");
      return v;
    }
    case K::kBool: {
      bool v = false;
      if (!parse_bool(value, v)) throw fail(quoted + " is not on or off");
      return v;
    }
    case K::kString: return value;
    case K::kEnum:
      for (const auto& c : spec.choices)
        if (c == value) return value;
      throw fail(quoted + " is not one of the choices");
    case K::kIntList: {
      std::vector<std::int64_t> out;
      std::size_t start = 0;
      while (true) {
        const std::size_t comma = value.find(',', start);
        const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        std::int64_t v = 0;
        if (!parse_int(item, v)) throw fail("'" + item + "' in " + quoted + " is not an integer");
        if (double(v) < spec.min || double(v) > spec.max) throw fail("'" + item + "' in " + quoted + " is out of range");
        out.push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return out;
    }
  }
  throw fail("unsupported option type");
}

ParsedOptions OptionTable::parse(const std::map<std::string, std::string>& opts) const {
  ParsedOptions out;
  out.design_ = design_;
  for (const auto& [key, value] : opts) {
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs_)
      if (s.key == key) spec = &s;
    if (spec == nullptr) {
      std::vector<std::string> keys;
      for (const auto& s : specs_) keys.push_back(s.key);
      throw std::invalid_argument("design " + design_ + ": option '" + key + "': unknown key (accepted: " +
                                  (keys.empty() ? std::string("none") : join(keys, ", ")) + ")");
    }
    out.values_[key] = convert(*spec, value);
    out.given_[key] = true;
  }
  for (const auto& s : specs_) {
    if (out.values_.count(s.key) || s.default_value.empty()) continue;
    out.values_[s.key] = convert(s, s.default_value);
    out.given_[s.key] = false;
  }
  return out;
}

std::string OptionTable::help() const {
  std::string out;
  for (const auto& s : specs_) {
    out += "  " + s.key + "=<" + accepted_values(s) + ">  " + s.help;
    if (!s.default_value.empty()) out += " (default: " + s.default_value + ")";
    out += "\n";
  }
  return out;
}

const OptionValue& ParsedOptions::at(const std::string& key) const {
  const auto it = values_.find(key);
  VEIL_CHECK_ARG(it != values_.end(), "design ", design_, ": option '", key, "' has no value");
  return it->second;
}

namespace {
template <typename T>
const T& get(const OptionValue& v, const std::string& design, const std::string& key) {
  const T* p = std::get_if<T>(&v);
  VEIL_CHECK_ARG(p != nullptr, "design ", design, ": option '", key, "' asked for with the wrong type");
  return *p;
}
}  // namespace

std::int64_t ParsedOptions::integer(const std::string& key) const { return get<std::int64_t>(at(key), design_, key); }
double ParsedOptions::real(const std::string& key) const { return get<double>(at(key), design_, key); }
bool ParsedOptions::boolean(const std::string& key) const { return get<bool>(at(key), design_, key); }
const std::string& ParsedOptions::string(const std::string& key) const { return get<std::string>(at(key), design_, key); }
const std::vector<std::int64_t>& ParsedOptions::int_list(const std::string& key) const {
  return get<std::vector<std::int64_t>>(at(key), design_, key);
}
bool ParsedOptions::given(const std::string& key) const {
  const auto it = given_.find(key);
  return it != given_.end() && it->second;
}

}  // namespace veil::designs::common
