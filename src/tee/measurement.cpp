// The enclave measurement: the executable, the shared objects it was started with, and the
// measured configuration (include/veil/tee/attestation.h).
#include <link.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

namespace fs = std::filesystem;

// SHA-256 of a file's bytes, streamed (libraries are hundreds of MB).
std::string file_sha256(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  VEIL_CHECK_IO(in.good(), "measurement: cannot read ", path.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  VEIL_CHECK_IO(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "measurement: SHA-256 unavailable");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n > 0) VEIL_CHECK_IO(EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n)) == 1, "SHA-256 failed");
  }
  VEIL_CHECK_IO(in.eof(), "measurement: reading ", path.string(), " failed");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  VEIL_CHECK_IO(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1 && len == 32, "SHA-256 failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

struct NamedDigest {
  std::string name, digest;
};

std::string combine(const std::string& binary_digest, std::vector<NamedDigest> objects, const nlohmann::json& config) {
  std::sort(objects.begin(), objects.end(), [](const NamedDigest& a, const NamedDigest& b) {
    return a.name != b.name ? a.name < b.name : a.digest < b.digest;
  });
  std::string input = "veil-enclave-measurement-v2";
  input.push_back('\0');
  input += binary_digest;
  for (const auto& o : objects) {
    for (int i = 3; i >= 0; --i) input.push_back(static_cast<char>((o.name.size() >> (8 * i)) & 0xff));
    input += o.name;
    input += o.digest;
  }
  input += config.dump();
  return to_hex(sha256(input));
}

std::vector<NamedDigest> digests(const std::vector<fs::path>& objects) {
  std::vector<NamedDigest> out;
  out.reserve(objects.size());
  for (const auto& p : objects) out.push_back({p.filename().string(), file_sha256(p)});
  return out;
}

int collect(dl_phdr_info* info, std::size_t, void* data) {
  auto* out = static_cast<std::vector<fs::path>*>(data);
  // The executable itself has an empty name; the vDSO has no file.
  if (info->dlpi_name && info->dlpi_name[0] == '/') {
    std::error_code ec;
    if (fs::is_regular_file(info->dlpi_name, ec)) out->emplace_back(info->dlpi_name);
  }
  return 0;
}

std::vector<fs::path> list_loaded_objects() {
  std::vector<fs::path> out;
  dl_iterate_phdr(collect, &out);
  return out;
}

// Taken during static initialisation, before main() can dlopen anything, so that every process of
// one binary measures the same set whatever it did before asking.
const std::vector<fs::path> kStartupObjects = list_loaded_objects();

}  // namespace

std::string measure(const fs::path& binary, const std::vector<fs::path>& shared_objects, const nlohmann::json& config) {
  return combine(file_sha256(binary), digests(shared_objects), config);
}

std::string measure(const fs::path& binary, const nlohmann::json& config) { return measure(binary, {}, config); }

const std::vector<fs::path>& startup_shared_objects() { return kStartupObjects; }

std::string measure_self(const nlohmann::json& config) {
  // The code does not change while the process runs: hash it once.
  static std::once_flag once;
  static std::string binary_digest;
  static std::vector<NamedDigest> objects;
  std::call_once(once, [] {
    binary_digest = file_sha256("/proc/self/exe");
    objects = digests(startup_shared_objects());
  });
  return combine(binary_digest, objects, config);
}

}  // namespace veil::tee
