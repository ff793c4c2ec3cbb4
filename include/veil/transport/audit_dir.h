// An audit tap on disk: what a party received and sent, for the evaluation and the security tests
// to read after (or while) the party runs. `veil worker --audit-dir DIR` writes one.
//
// Layout of DIR:
//   index.jsonl         one JSON object per message, in order:
//                       {"seq":1,"party":"worker-0","direction":"received"|"sent","op":...,
//                        "request_id":...,"layer":...,"ints":[...],
//                        "tensors":[{"name":...,"dtype":"f32","shape":[...],"bytes":N}],
//                        "blobs":[{"name":...,"bytes":N}],"meta":{...},
//                        "wire_bytes":N,"sha256":"<hex of the flat form>",
//                        "file":"000001-received.veilmsg"}      <- only when the bytes were kept
//   NNNNNN-<direction>.veilmsg
//                       the message in the codec's flat form ("VEIL", u32 header length,
//                       serialized veil.v1.Header, payload): tensor and blob bytes exactly as they
//                       crossed the wire. Renamed into place before its index line is written.
// A reader ignores a trailing partial line of index.jsonl (a party killed mid-write).
//
// Cost (docs/transport.md, "Audit taps"): every message is hashed (SHA-256 of its flat form) and
// described in the index; its bytes are kept according to AuditOptions. Files are written to the
// page cache and renamed into place without an fsync each (the index is synced when the tap is
// closed): an audit tap must show what was seen, not survive a power cut, and one fsync per message
// made runs 10-30x slower.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "veil/transport/audit_tap.h"

namespace veil::transport {

// Which messages keep their bytes. Every message is indexed and hashed regardless.
struct AuditOptions {
  bool full = true;                // keep every message's bytes (the evaluation needs this)
  std::uint64_t sample_every = 0;  // when !full: keep the bytes of message 1, 1+N, 1+2N, ... (0: none)
  std::uint64_t max_bytes = 0;     // stop keeping bytes once this many are on disk (0: no cap)
};

class DirectoryTap final : public AuditTap {
 public:
  // Creates `dir` when missing; throws std::runtime_error when it cannot be written, and
  // std::invalid_argument for options that keep nothing sensible (!full with sample_every 0 is
  // allowed: hashes only). Appends to an existing index (sequence numbers continue).
  explicit DirectoryTap(std::filesystem::path dir, AuditOptions options = {});
  ~DirectoryTap() override;
  DirectoryTap(const DirectoryTap&) = delete;
  DirectoryTap& operator=(const DirectoryTap&) = delete;

  void record(const std::string& party, Direction direction, const Message& message, std::size_t wire_bytes) override;
  [[nodiscard]] std::vector<TapEntry> entries() const override;  // the kept messages, read back from disk
  [[nodiscard]] std::size_t size() const override;               // messages recorded (kept or not)
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] std::uint64_t bytes_kept() const;  // size of the kept message files

 private:
  [[nodiscard]] bool keep_bytes(std::uint64_t seq, std::size_t wire_bytes);

  std::filesystem::path dir_;
  AuditOptions options_;
  std::ofstream index_;
  std::uint64_t seq_ = 0;
  std::size_t count_ = 0;
  std::uint64_t kept_bytes_ = 0;
  bool cap_reported_ = false;
};

// Every message whose bytes are kept in `dir`, in order (index lines without a file — hashed
// only — are skipped). Throws std::runtime_error when the directory or a message file is
// unreadable, std::invalid_argument when a file is not a valid message or does not match the
// SHA-256 its index line gives.
[[nodiscard]] std::vector<TapEntry> read_audit_dir(const std::filesystem::path& dir);

}  // namespace veil::transport
