#include "veil/config/party_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace veil::config {
namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr int kMaxDepth = 8;

Position position_of(const toml::source_region& r) { return {r.begin.line, r.begin.column}; }

[[noreturn]] void fail(const std::filesystem::path& path, Position at, const std::string& message) {
  throw ConfigError(where(path, at) + ": " + message);
}

std::string float_text(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

Value convert(const toml::node& node, const std::string& key, const std::filesystem::path& path, int depth) {
  Value v;
  v.at = position_of(node.source());
  if (depth > kMaxDepth) fail(path, v.at, "key '" + key + "': nested too deeply");
  switch (node.type()) {
    case toml::node_type::string:
      v.kind = Value::Kind::kString;
      v.text = node.as_string()->get();
      break;
    case toml::node_type::integer:
      v.kind = Value::Kind::kInteger;
      v.text = std::to_string(node.as_integer()->get());
      break;
    case toml::node_type::floating_point: {
      const double d = node.as_floating_point()->get();
      if (!std::isfinite(d)) fail(path, v.at, "key '" + key + "': " + float_text(d) + " is not a finite number");
      v.kind = Value::Kind::kFloat;
      v.text = float_text(d);
      break;
    }
    case toml::node_type::boolean:
      v.kind = Value::Kind::kBool;
      v.text = node.as_boolean()->get() ? "true" : "false";
      break;
    case toml::node_type::array:
      v.kind = Value::Kind::kArray;
      for (const auto& item : *node.as_array()) v.items.push_back(convert(item, key, path, depth + 1));
      break;
    case toml::node_type::table: {
      v.kind = Value::Kind::kTable;
      std::vector<std::pair<std::string, const toml::node*>> children;
      for (const auto& [k, child] : *node.as_table()) children.emplace_back(std::string(k.str()), &child);
      std::stable_sort(children.begin(), children.end(), [](const auto& a, const auto& b) {
        const auto pa = a.second->source().begin, pb = b.second->source().begin;
        return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
      });
      for (const auto& [k, child] : children) {
        v.keys.push_back(k);
        v.items.push_back(convert(*child, key + "." + k, path, depth + 1));
      }
      break;
    }
    default:
      fail(path, v.at, "key '" + key + "': dates and times are not option values; quote the value as a string");
  }
  return v;
}

void sort_by_position(std::vector<Entry>& entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return std::tie(a.at.line, a.at.column) < std::tie(b.at.line, b.at.column); });
}

}  // namespace

const char* Value::kind_name() const {
  switch (kind) {
    case Kind::kString: return "a string";
    case Kind::kInteger: return "an integer";
    case Kind::kFloat: return "a number";
    case Kind::kBool: return "true/false";
    case Kind::kArray: return "an array";
    case Kind::kTable: return "a table";
  }
  return "a value";
}

std::string where(const std::filesystem::path& path, Position at) {
  std::string s = path.string();
  if (at.line > 0) s += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  return s;
}

PartyFile parse_party_file(std::string_view text, const std::filesystem::path& path) {
  if (text.size() > kMaxFileBytes) fail(path, {}, "larger than 1 MiB; a party configuration is a few hundred bytes");
  toml::table root;
  try {
    root = toml::parse(text, path.string());
  } catch (const toml::parse_error& e) {
    fail(path, position_of(e.source()), "not valid TOML: " + std::string(e.description()));
  }
  PartyFile f;
  f.path = path;
  f.dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  f.sections.push_back({"", {}, {1, 1}});
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    const Position at = position_of(k.source());
    if (key == "role") {
      if (!node.is_string()) fail(path, at, "key 'role': expected a string (data-owner, worker, enclave or model-owner)");
      f.role = node.as_string()->get();
      f.role_at = at;
      continue;
    }
    if (node.is_table() && !node.as_table()->is_inline() && key != "opt") {  // a [section]: one command's keys
      Section s{key, {}, at};
      for (const auto& [sk, child] : *node.as_table()) {
        const std::string skey(sk.str());
        s.entries.push_back({skey, convert(child, skey, path, 1), position_of(sk.source())});
      }
      sort_by_position(s.entries);
      f.sections.push_back(std::move(s));
      continue;
    }
    f.sections[0].entries.push_back({key, convert(node, key, path, 1), at});
  }
  sort_by_position(f.sections[0].entries);
  std::stable_sort(f.sections.begin() + 1, f.sections.end(), [](const Section& a, const Section& b) {
    return std::tie(a.at.line, a.at.column) < std::tie(b.at.line, b.at.column);
  });
  if (f.role.empty()) fail(path, {}, "no 'role' key: write role = \"data-owner\", \"worker\", \"enclave\" or \"model-owner\"");
  return f;
}

PartyFile load_party_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw ConfigError(path.string() + ": cannot read: " + ec.message());
  if (size > kMaxFileBytes) fail(path, {}, "larger than 1 MiB; a party configuration is a few hundred bytes");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in.good() && !in.eof()) throw ConfigError(path.string() + ": cannot read");
  return parse_party_file(s.str(), path);
}

}  // namespace veil::config
