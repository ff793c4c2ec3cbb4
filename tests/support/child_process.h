// Child processes for the multi-process tests: the `veil` binary under test and a process handle
// with its stdout and stderr in files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace veil::testing {

// The `veil` CLI of this build ($VEIL_BINARY_DIR/bin/veil, set by ctest).
[[nodiscard]] std::filesystem::path veil_binary();

// A child process (args[0] is the program) with stdout and stderr in `<log>.out` / `<log>.err`;
// killed when still running at destruction.
class Child {
 public:
  Child(std::vector<std::string> args, const std::filesystem::path& log);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void signal(int sig) const;
  [[nodiscard]] pid_t pid() const { return pid_; }
  // Exit status (128 + signal when killed), or nullopt when it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool waited_ = false;
};

}  // namespace veil::testing
