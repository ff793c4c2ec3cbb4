#include "veil/transport/audit_summary.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace veil::transport {
namespace {

std::string shape_text(const nlohmann::json& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i].get<std::int64_t>());
  return s + "]";
}

std::string human_bytes(std::uint64_t b) {
  char buf[32];
  if (b < 10 * 1024) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  else if (b < 10ull * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / 1048576);
  return buf;
}

// One index line into the summary. Throws std::invalid_argument (caught and located by the caller)
// when a field has the wrong type.
void add_entry(AuditSummary& s, std::map<std::pair<std::string, std::string>, std::size_t>& slot,
               const nlohmann::json& e) {
  if (!e.is_object()) throw std::invalid_argument("not a JSON object");
  const std::string op = e.at("op").get<std::string>();
  const std::string dir = e.at("direction").get<std::string>();
  if (dir != "received" && dir != "sent") throw std::invalid_argument("direction '" + dir + "'");
  if (s.party.empty() && e.contains("party")) s.party = e["party"].get<std::string>();
  const auto wire = e.value("wire_bytes", std::uint64_t{0});
  auto [it, fresh] = slot.try_emplace({op, dir}, s.ops.size());
  if (fresh) s.ops.push_back(AuditOpSummary{op, dir});
  AuditOpSummary& o = s.ops[it->second];
  ++o.messages;
  o.wire_bytes += wire;
  ++s.messages;
  if (e.contains("file")) ++s.kept;
  (dir == "received" ? s.received_bytes : s.sent_bytes) += wire;
  for (const auto& t : e.value("tensors", nlohmann::json::array())) {
    ++o.tensor_count;
    if (dir == "received") ++s.received_tensors;
    if (o.tensors.size() < kMaxShapes)
      o.tensors.insert(t.at("name").get<std::string>() + " " + t.at("dtype").get<std::string>() + " " +
                       shape_text(t.at("shape")));
  }
  for (const auto& b : e.value("blobs", nlohmann::json::array())) {
    ++o.blob_count;
    o.blob_bytes += b.value("bytes", std::uint64_t{0});
    if (dir == "received") ++s.received_blobs;
  }
}

}  // namespace

AuditSummary summarize_audit(const std::filesystem::path& dir) {
  std::ifstream in(dir / "index.jsonl", std::ios::binary);
  if (!in) throw std::runtime_error("audit dir " + dir.string() + ": no readable index.jsonl");
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  AuditSummary s;
  s.dir = dir;
  std::map<std::pair<std::string, std::string>, std::size_t> slot;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a trailing partial line: the party is writing it, or was killed
    ++line_no;
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    try {
      add_entry(s, slot, nlohmann::json::parse(line));
    } catch (const std::exception& e) {  // parse errors, missing fields, wrong types
      throw std::invalid_argument("audit dir " + dir.string() + ": index.jsonl line " + std::to_string(line_no) +
                                  " is not an index entry: " + e.what());
    }
  }
  return s;
}

nlohmann::json AuditSummary::to_json() const {
  nlohmann::json ops_j = nlohmann::json::array();
  for (const auto& o : ops)
    ops_j.push_back({{"op", o.op},
                     {"direction", o.direction},
                     {"messages", o.messages},
                     {"wire_bytes", o.wire_bytes},
                     {"tensor_count", o.tensor_count},
                     {"tensors", o.tensors},
                     {"blob_count", o.blob_count},
                     {"blob_bytes", o.blob_bytes}});
  return {{"dir", dir.string()},         {"party", party},
          {"messages", messages},        {"kept", kept},
          {"received_bytes", received_bytes}, {"sent_bytes", sent_bytes},
          {"received_tensors", received_tensors}, {"received_blobs", received_blobs},
          {"ops", ops_j}};
}

std::string AuditSummary::to_text() const {
  std::string out = "audit tap of " + (party.empty() ? std::string("(empty)") : party) + ": " +
                    std::to_string(messages) + " messages (" + std::to_string(kept) + " kept), received " +
                    human_bytes(received_bytes) + ", sent " + human_bytes(sent_bytes) + "\n";
  char line[160];
  std::snprintf(line, sizeof line, "  %-9s %-28s %6s %10s  %s\n", "dir", "op", "msgs", "bytes", "carried");
  out += line;
  for (const auto& o : ops) {
    std::string carried;
    if (o.blob_count)
      carried += std::to_string(o.blob_count) + " opaque blob" + (o.blob_count == 1 ? "" : "s") + " (" +
                 human_bytes(o.blob_bytes) + ")";
    for (const auto& t : o.tensors) carried += (carried.empty() ? "" : "; ") + t;
    if (o.tensor_count > o.tensors.size() && !o.tensors.empty())
      carried += " (" + std::to_string(o.tensor_count) + " tensors in all)";
    if (carried.empty()) carried = "-";
    std::snprintf(line, sizeof line, "  %-9s %-28s %6llu %10s  ", o.direction.c_str(), o.op.c_str(),
                  static_cast<unsigned long long>(o.messages), human_bytes(o.wire_bytes).c_str());
    out += line + carried + "\n";
  }
  out += "  readable tensors received: " + std::to_string(received_tensors) +
         "; opaque blobs received: " + std::to_string(received_blobs) + "\n";
  return out;
}

}  // namespace veil::transport
