#include "veil/transport/audit_dir.h"

#include <cstdio>
#include <iostream>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

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

// SHA-256 of the flat form ("VEIL", u32 header length, header, payload) without building it.
class FlatHash {
 public:
  FlatHash() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 init failed");
  }
  ~FlatHash() { EVP_MD_CTX_free(ctx_); }
  FlatHash(const FlatHash&) = delete;
  FlatHash& operator=(const FlatHash&) = delete;
  void update(std::string_view s) {
    if (EVP_DigestUpdate(ctx_, s.data(), s.size()) != 1) throw std::runtime_error("SHA-256 update failed");
  }
  [[nodiscard]] std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_, md, &n) != 1) throw std::runtime_error("SHA-256 final failed");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) out += {digits[md[i] >> 4], digits[md[i] & 15]};
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha256_hex(std::string_view flat) {
  FlatHash h;
  h.update(flat);
  return h.hex();
}

std::string sha256_hex(const codec::EncodedMessage& e) {
  FlatHash h;
  h.update("VEIL");
  const auto n = static_cast<std::uint32_t>(e.header.size());
  char len[4];
  for (int i = 0; i < 4; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  h.update(std::string_view(len, 4));
  h.update(e.header);
  for (auto s : e.segments) h.update(s);
  return h.hex();
}

// Renamed into place so a reader never sees a torn file; no fsync (see the header).
void write_visible(const std::filesystem::path& path, const std::string& bytes) {
  const auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw std::runtime_error("audit dir: cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("audit dir: cannot rename " + tmp.string() + ": " + ec.message());
}

}  // namespace

DirectoryTap::DirectoryTap(std::filesystem::path dir, AuditOptions options) : dir_(std::move(dir)), options_(options) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("audit dir " + dir_.string() + ": " + ec.message());
  seq_ = last_seq(dir_ / "index.jsonl");
  index_.open(dir_ / "index.jsonl", std::ios::app);
  if (!index_) throw std::runtime_error("audit dir " + dir_.string() + ": cannot write index.jsonl");
}

DirectoryTap::~DirectoryTap() {
  // One fsync for the whole tap instead of one per message.
  index_.flush();
  const int fd = ::open((dir_ / "index.jsonl").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

bool DirectoryTap::keep_bytes(std::uint64_t seq, std::size_t wire_bytes) {
  bool keep = options_.full || (options_.sample_every > 0 && (seq - 1) % options_.sample_every == 0);
  if (keep && options_.max_bytes > 0 && kept_bytes_ + wire_bytes > options_.max_bytes) {
    if (!cap_reported_)
      std::cerr << "veil: audit dir " << dir_.string() << ": size cap of " << options_.max_bytes
                << " bytes reached; later messages are indexed and hashed, their bytes not kept\n";
    cap_reported_ = true;
    keep = false;
  }
  if (keep) kept_bytes_ += wire_bytes;
  return keep;
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
  if (keep_bytes(seq, encoded.wire_bytes() + 8)) {  // + the flat form's magic and length
    char file[64];
    std::snprintf(file, sizeof file, "%06llu-%s.veilmsg", static_cast<unsigned long long>(seq), direction_name(direction));
    const std::string flat = codec::to_flat(encoded);
    write_visible(dir_ / file, flat);
    j["sha256"] = sha256_hex(flat);
    j["file"] = file;
  } else {
    j["sha256"] = sha256_hex(encoded);
  }
  j["seq"] = seq;
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

std::uint64_t DirectoryTap::bytes_kept() const {
  std::lock_guard lock(mu_);
  return kept_bytes_;
}

std::vector<TapEntry> read_audit_dir(const std::filesystem::path& dir) {
  std::ifstream in(dir / "index.jsonl");
  if (!in) throw std::runtime_error("audit dir " + dir.string() + ": no readable index.jsonl");
  std::vector<TapEntry> out;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      if (in.peek() == std::char_traits<char>::eof()) break;  // a torn last line
      throw std::invalid_argument("audit dir " + dir.string() + ": index.jsonl line " + std::to_string(line_no) +
                                  " is not JSON");
    }
    try {
      if (!j.contains("file")) continue;  // hashed only
      const std::string file = j.at("file").get<std::string>();
      if (file.find('/') != std::string::npos) throw std::invalid_argument("file names a path");
      const std::string flat = util::read_file(dir / file);
      if (j.contains("sha256") && j.at("sha256").get<std::string>() != sha256_hex(flat))
        throw std::invalid_argument("audit dir " + dir.string() + ": " + file + " does not match the SHA-256 in its index line");
      TapEntry e{j.at("party").get<std::string>(),
                 j.at("direction").get<std::string>() == "received" ? Direction::kReceived : Direction::kSent,
                 codec::decode_flat(flat), j.at("wire_bytes").get<std::size_t>()};
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
