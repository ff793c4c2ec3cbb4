#include "veil/util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "veil/util/check.h"

namespace veil::util {
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  VEIL_CHECK_IO(in.good(), "cannot open ", path.string(), ": ", std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  VEIL_CHECK_IO(!in.bad(), "error reading ", path.string());
  return data;
}

namespace {

fs::path temp_name_for(const fs::path& path) {
  std::random_device rd;  // names only; not a secret
  return path.parent_path() / (".tmp-" + path.filename().string() + "-" + std::to_string(::getpid()) + "-" +
                               std::to_string(rd()));
}

void fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.empty() ? "." : path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)), tmp_(temp_name_for(path_)) {
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path());
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  VEIL_CHECK_IO(out_.good(), "cannot create ", tmp_.string(), ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void AtomicFile::commit() {
  VEIL_CHECK_STATE(!committed_, "AtomicFile::commit called twice for ", path_.string());
  out_.flush();
  VEIL_CHECK_IO(out_.good(), "error writing ", tmp_.string());
  out_.close();
  fsync_path(tmp_, false);
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  VEIL_CHECK_IO(!ec, "cannot rename ", tmp_.string(), " to ", path_.string(), ": ", ec.message());
  fsync_path(path_.parent_path(), true);
  committed_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view data) {
  AtomicFile f(path);
  f.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  f.commit();
}

void write_file_atomic(const fs::path& path, std::span<const std::uint8_t> data) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

void write_private_file_atomic(const fs::path& path, std::string_view data) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = temp_name_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  VEIL_CHECK_IO(fd >= 0, "cannot create ", tmp.string(), ": ", std::strerror(errno));
  const auto fail = [&](const char* what) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    VEIL_CHECK_IO(false, what, " ", tmp.string(), ": ", std::strerror(e));
  };
  if (::fchmod(fd, 0600) != 0) fail("cannot set the mode of");
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("error writing");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot sync");
  ::close(fd);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) ::unlink(tmp.c_str());
  VEIL_CHECK_IO(!ec, "cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message());
  fsync_path(path.parent_path(), true);
}

void replace_directory(const fs::path& staged, const fs::path& dst) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(dst, ec)) {
    old = temp_name_for(dst);
    fs::rename(dst, old, ec);
    VEIL_CHECK_IO(!ec, "cannot move aside ", dst.string(), ": ", ec.message());
  }
  fs::rename(staged, dst, ec);
  VEIL_CHECK_IO(!ec, "cannot rename ", staged.string(), " to ", dst.string(), ": ", ec.message());
  fsync_path(dst.parent_path(), true);
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace veil::util
