// Packing files for sealing (bundle.h).
#include "designs/obfuscatune/bundle.h"

#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::obfuscatune {
namespace {

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get(const std::string& in, std::size_t& pos, int bytes) {
  VEIL_CHECK_ARG(pos + static_cast<std::size_t>(bytes) <= in.size(), "bundle: truncated at byte ", pos);
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(in[pos++]);
  return v;
}

void check_name(const std::string& name) {
  VEIL_CHECK_ARG(!name.empty() && name.size() <= 255 && name != "." && name != ".." &&
                     name.find('/') == std::string::npos && name.find('\0') == std::string::npos,
                 "bundle: bad file name '", name, "'");
}

}  // namespace

std::string pack_bundle(const Bundle& files) {
  std::string out;
  for (const auto& [name, bytes] : files) {
    check_name(name);
    put(out, name.size(), 4);
    out += name;
    put(out, bytes.size(), 8);
    out += bytes;
  }
  return out;
}

Bundle unpack_bundle(const std::string& bytes) {
  Bundle files;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto n = get(bytes, pos, 4);
    VEIL_CHECK_ARG(n <= 255 && pos + n <= bytes.size(), "bundle: bad name length at byte ", pos);
    std::string name = bytes.substr(pos, n);
    pos += n;
    check_name(name);
    const auto size = get(bytes, pos, 8);
    VEIL_CHECK_ARG(size <= bytes.size() - pos, "bundle: file '", name, "' is truncated");
    VEIL_CHECK_ARG(!files.count(name), "bundle: file '", name, "' appears twice");
    files[name] = bytes.substr(pos, size);
    pos += size;
  }
  return files;
}

Bundle read_bundle(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  VEIL_CHECK_ARG(fs::exists(path), path.string(), ": not found");
  Bundle files;
  if (fs::is_regular_file(path)) {
    files[path.filename().string()] = util::read_file(path);
    return files;
  }
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file()) files[e.path().filename().string()] = util::read_file(e.path());
  VEIL_CHECK_ARG(!files.empty(), path.string(), ": no files to seal");
  return files;
}

}  // namespace veil::designs::obfuscatune
