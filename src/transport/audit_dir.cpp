#include "veil/transport/audit_dir.h"

#include <cstdio>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "transport/codec.h"
#include "veil/util/file_io.h"

namespace veil::transport {
namespace {

const char* direction_name(Direction d) { return d == Direction::kReceived ? "received" : "sent"; }

std::uint64_t last_seq(const std::filesystem::path& index) {
  std::ifstream in(index);
  std::uint64_t seq = 0;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("seq") && j["seq"].is_number_unsigned()) seq = j["seq"].get<std::uint64_t>();
  }
  return seq;
}

}  // namespace

DirectoryTap::DirectoryTap(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("audit dir " + dir_.string() + ": " + ec.message());
  seq_ = last_seq(dir_ / "index.jsonl");
  index_.open(dir_ / "index.jsonl", std::ios::app);
  if (!index_) throw std::runtime_error("audit dir " + dir_.string() + ": cannot write index.jsonl");
}

void DirectoryTap::record(const std::string& party, Direction direction, const Message& message, std::size_t) {
  // Encoding is deterministic, so these are the bytes of the header and payload that crossed the wire.
  const auto encoded = codec::encode(message);
  nlohmann::json j;
  j["party"] = party;
  j["direction"] = direction_name(direction);
  j["op"] = message.op;
  j["request_id"] = message.request_id;
  j["layer"] = message.layer;
  j["ints"] = message.ints;
  j["tensors"] = nlohmann::json::array();
  for (const auto& [name, t] : message.tensors) {
    if (!t.defined()) continue;
    j["tensors"].push_back({{"name", name},
                            {"dtype", codec::dtype_name(t.scalar_type())},
                            {"shape", t.sizes().vec()},
                            {"bytes", t.numel() * t.element_size()}});
  }
  j["blobs"] = nlohmann::json::array();
  for (const auto& [name, b] : message.blobs) j["blobs"].push_back({{"name", name}, {"bytes", b.size()}});
  j["meta"] = message.meta;
  j["wire_bytes"] = encoded.wire_bytes();

  std::lock_guard lock(mu_);
  const std::uint64_t seq = ++seq_;
  char file[64];
  std::snprintf(file, sizeof file, "%06llu-%s.veilmsg", static_cast<unsigned long long>(seq), direction_name(direction));
  util::write_file_atomic(dir_ / file, codec::to_flat(encoded));
  j["seq"] = seq;
  j["file"] = file;
  index_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  index_.flush();
  if (!index_) throw std::runtime_error("audit dir " + dir_.string() + ": writing index.jsonl failed");
  ++count_;
}

std::vector<TapEntry> DirectoryTap::entries() const {
  std::lock_guard lock(mu_);
  return read_audit_dir(dir_);
}

std::size_t DirectoryTap::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

std::vector<TapEntry> read_audit_dir(const std::filesystem::path& dir) {
  std::ifstream in(dir / "index.jsonl");
  if (!in) throw std::runtime_error("audit dir " + dir.string() + ": no readable index.jsonl");
  std::vector<TapEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      if (in.peek() == std::char_traits<char>::eof()) break;  // a torn last line
      throw std::invalid_argument("audit dir " + dir.string() + ": index.jsonl line " + std::to_string(out.size() + 1) +
                                  " is not JSON");
    }
    try {
      const std::string file = j.at("file").get<std::string>();
      if (file.find('/') != std::string::npos) throw std::invalid_argument("file names a path");
      TapEntry e{j.at("party").get<std::string>(),
                 j.at("direction").get<std::string>() == "received" ? Direction::kReceived : Direction::kSent,
                 codec::decode_flat(util::read_file(dir / file)), j.at("wire_bytes").get<std::size_t>()};
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument("audit dir " + dir.string() + ": bad index entry: " + e.what());
    } catch (const ProtocolError& e) {
      throw std::invalid_argument("audit dir " + dir.string() + ": " + e.what());
    }
  }
  return out;
}

}  // namespace veil::transport
