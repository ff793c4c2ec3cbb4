#include "designs/guarded/client_secret.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numbers>
#include <vector>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "veil/model/lora.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::guarded {
namespace fs = std::filesystem;

ClientSecret ClientSecret::generate() {
  ClientSecret s;
  VEIL_CHECK_IO(RAND_bytes(s.key_.data(), static_cast<int>(s.key_.size())) == 1, "OpenSSL RAND_bytes failed");
  return s;
}

ClientSecret ClientSecret::load(const fs::path& path) {
  std::string text = util::read_file(path);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  VEIL_CHECK_ARG(text.size() == 64, path.string(), ": a split client secret is 64 hex digits (got ", text.size(),
                 " characters)");
  ClientSecret s;
  for (std::size_t i = 0; i < 32; ++i) {
    auto nibble = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      VEIL_CHECK_ARG(false, path.string(), ": a split client secret is 64 hex digits (found '", c, "')");
      return 0;
    };
    s.key_[i] = static_cast<unsigned char>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  }
  return s;
}

ClientSecret ClientSecret::load_or_create(const fs::path& path) {
  if (fs::exists(path)) return load(path);
  auto s = generate();
  s.save(path);
  return s;
}

void ClientSecret::save(const fs::path& path) const {
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (auto b : key_) text += {hex[b >> 4], hex[b & 15]};
  text += '\n';
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const auto tmp = fs::path(path.string() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  VEIL_CHECK_IO(fd >= 0, "cannot write ", tmp.string());
  const bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  VEIL_CHECK_IO(ok, "cannot write ", tmp.string());
  fs::rename(tmp, path);
}

at::Tensor ClientSecret::uniform(std::uint32_t domain, std::uint32_t index, std::uint32_t counter,
                                 at::IntArrayRef sizes) const {
  auto words = at::zeros(sizes, at::kInt);
  const auto n = words.numel();
  // ChaCha20: the 16-byte IV is a 4-byte block counter (0) and the 12-byte nonce (domain, index,
  // counter); the keystream is the encryption of zeros.
  unsigned char iv[16] = {};
  std::memcpy(iv + 4, &domain, 4);
  std::memcpy(iv + 8, &index, 4);
  std::memcpy(iv + 12, &counter, 4);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  VEIL_CHECK_IO(ctx && EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, key_.data(), iv) == 1,
                "OpenSSL ChaCha20 is unavailable");
  auto* p = reinterpret_cast<unsigned char*>(words.data_ptr<std::int32_t>());
  for (std::int64_t done = 0; done < n * 4;) {
    const int chunk = static_cast<int>(std::min<std::int64_t>(n * 4 - done, 1 << 24));
    int out = 0;
    VEIL_CHECK_IO(EVP_EncryptUpdate(ctx.get(), p + done, &out, p + done, chunk) == 1 && out == chunk,
                  "OpenSSL ChaCha20 failed");
    done += chunk;
  }
  return (words.to(at::kDouble) + 2147483648.5) / 4294967296.0;
}

at::Tensor ClientSecret::normal(std::uint32_t domain, std::uint32_t index, std::uint32_t counter,
                                at::IntArrayRef sizes) const {
  std::vector<std::int64_t> twice(sizes.begin(), sizes.end());
  twice.insert(twice.begin(), 2);
  auto u = uniform(domain, index, counter, twice);
  return (at::sqrt(-2.0 * at::log(u[0])) * at::cos(2.0 * std::numbers::pi * u[1])).to(at::kFloat);
}

void init_client_lora(const ClientSecret& secret, model::LoraAdapters& lora, const std::function<bool(int)>& mine) {
  at::NoGradGuard g;
  for (auto& [site, p] : lora.pairs()) {
    if (!mine(site.layer)) continue;
    // One stream per site, named by the site (not by its place among the pairs kept).
    const auto i = static_cast<std::uint32_t>(site.layer) * 64 + static_cast<std::uint32_t>(site.proj);
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.a.size(1)));
    p.a.copy_(((secret.uniform(kDomainLoraInit, i, 0, p.a.sizes()) * 2 - 1) * bound).to(at::kFloat));
    p.b.zero_();
  }
}

}  // namespace veil::designs::guarded
