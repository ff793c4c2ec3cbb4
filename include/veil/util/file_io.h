// Whole-file reads and atomic writes.
//
// Writes that matter (checkpoints, adapters, keys) go through AtomicFile: the bytes are written to
// a temporary file in the destination's directory, flushed to disk, and renamed over the
// destination, so a reader sees either the old file or the complete new one, never a torn write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace veil::util {

// Reads a whole file. Throws std::runtime_error naming the path when it cannot be read.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

// Writes `data` to `path` atomically (temp file + fsync + rename). Throws std::runtime_error.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> data);

// As write_file_atomic, for a secret (a private key): the file is created with mode 0600 from
// the start (the temporary file too), whatever the umask. Throws std::runtime_error.
void write_private_file_atomic(const std::filesystem::path& path, std::string_view data);

// Streams a large file atomically: write through stream(), then commit(). If the object is
// destroyed without commit() the temporary file is removed and the destination is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  [[nodiscard]] std::ofstream& stream() { return out_; }
  // Flushes, fsyncs and renames over the destination. Throws std::runtime_error.
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Atomically replaces directory `dst` by the fully written directory `staged` (rename; the old
// directory, if any, is removed afterwards).
void replace_directory(const std::filesystem::path& staged, const std::filesystem::path& dst);

}  // namespace veil::util
