// An audit tap on disk: what a party received and sent, byte for byte, for the evaluation to read
// after (or while) the party runs. `veil worker --audit-dir DIR` writes one.
//
// Layout of DIR:
//   index.jsonl         one JSON object per message, in order:
//                       {"seq":1,"party":"worker-0","direction":"received"|"sent","op":...,
//                        "request_id":...,"layer":...,"ints":[...],
//                        "tensors":[{"name":...,"dtype":"f32","shape":[...],"bytes":N}],
//                        "blobs":[{"name":...,"bytes":N}],"meta":{...},
//                        "wire_bytes":N,"file":"000001-received.veilmsg"}
//   NNNNNN-<direction>.veilmsg
//                       the message in the codec's flat form ("VEIL", u32 header length,
//                       serialized veil.v1.Header, payload): tensor and blob bytes exactly as they
//                       crossed the wire. Written atomically before its index line.
// A reader ignores a trailing partial line of index.jsonl (a party killed mid-write).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "veil/transport/audit_tap.h"

namespace veil::transport {

class DirectoryTap final : public AuditTap {
 public:
  // Creates `dir` when missing; throws std::runtime_error when it cannot be written. Appends to an
  // existing index (sequence numbers continue).
  explicit DirectoryTap(std::filesystem::path dir);
  void record(const std::string& party, Direction direction, const Message& message, std::size_t wire_bytes) override;
  [[nodiscard]] std::vector<TapEntry> entries() const override;  // read back from disk
  [[nodiscard]] std::size_t size() const override;
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::ofstream index_;
  std::uint64_t seq_ = 0;
  std::size_t count_ = 0;
};

// Every message recorded in `dir`, in order. Throws std::runtime_error when the directory or a
// message file is unreadable, std::invalid_argument when a file is not a valid message.
[[nodiscard]] std::vector<TapEntry> read_audit_dir(const std::filesystem::path& dir);

}  // namespace veil::transport
