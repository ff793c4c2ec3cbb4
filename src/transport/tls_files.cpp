// Address parsing and the TLS files every transport uses (see tls_files.h).
#include "transport/tls_files.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "veil/transport/serve.h"
#include "veil/util/file_io.h"

namespace veil::transport {

HostPort parse_address(const std::string& address) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("address '" + address + "' " + why + " (expected HOST:PORT, e.g. 127.0.0.1:7000 or [::1]:7000)");
  };
  HostPort hp;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') throw bad("is malformed");
    hp.host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) throw bad("has no port");
    hp.host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) throw bad("has an IPv6 host without brackets");
  }
  if (hp.host.empty()) throw bad("has no host");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) throw bad("has a bad port");
  hp.port = std::stoi(port);
  if (hp.port > 65535) throw bad("has a port over 65535");
  for (char c : hp.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) throw bad("has a bad host");
  return hp;
}

bool is_loopback_host(const std::string& host_in) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return false;
  // What the name resolves to, as the sockets will use it (getaddrinfo reads "0127.0.0.1" as
  // octal, 87.0.0.1, and "127.1" as 127.0.0.1): every address must be loopback.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0 || !list) return false;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(list, freeaddrinfo);
  for (const addrinfo* a = list; a; a = a->ai_next) {
    // Each address in its numeric form, read back with inet_pton.
    char text[INET6_ADDRSTRLEN] = "";
    if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0) return false;
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, text, &v4) == 1) {
      if ((ntohl(v4.s_addr) >> 24) != 127) return false;
    } else if (inet_pton(AF_INET6, text, &v6) == 1) {
      const bool mapped_loopback = IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
      if (!IN6_IS_ADDR_LOOPBACK(&v6) && !mapped_loopback) return false;
    } else {
      return false;
    }
  }
  return true;
}

namespace tls_files {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::string read_pem(const std::filesystem::path& path, const char* flag) {
  if (path.empty()) throw std::invalid_argument(std::string("TLS needs ") + flag + " (or --insecure on a loopback address)");
  try {
    return util::read_file(path);
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string(flag) + " " + path.string() + ": cannot be read");
  }
}

std::unique_ptr<X509, X509Free> parse_cert(const std::string& pem, const std::filesystem::path& path, const char* flag) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) throw std::invalid_argument(std::string(flag) + " " + path.string() + ": not a PEM certificate");
  return cert;
}

}  // namespace

Pems load(const TlsConfig& tls, bool need_own_cert) {
  Pems p;
  p.ca = read_pem(tls.ca, "--tls-ca");
  (void)parse_cert(p.ca, tls.ca, "--tls-ca");
  if (!need_own_cert && tls.cert.empty() && tls.key.empty()) return p;
  if (tls.cert.empty() != tls.key.empty())
    throw std::invalid_argument("--tls-cert and --tls-key go together (" + std::string(tls.cert.empty() ? "--tls-cert" : "--tls-key") + " is missing)");
  p.cert = read_pem(tls.cert, "--tls-cert");
  p.key = read_pem(tls.key, "--tls-key");
  auto cert = parse_cert(p.cert, tls.cert, "--tls-cert");
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(p.key.data(), static_cast<int>(p.key.size())));
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw std::invalid_argument("--tls-key " + tls.key.string() + ": not a PEM private key (or it is encrypted)");
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    throw std::invalid_argument("--tls-key " + tls.key.string() + " does not belong to --tls-cert " + tls.cert.string());
  return p;
}

void check_insecure(const std::string& address, const char* role) {
  const auto hp = parse_address(address);
  if (!is_loopback_host(hp.host))
    throw std::invalid_argument("--insecure is allowed only on loopback addresses (127.0.0.1, ::1, localhost), not '" + address +
                                "': use --tls-cert/--tls-key/--tls-ca");
  std::fprintf(stderr,
               "veil: WARNING: --insecure: the %s at %s runs WITHOUT TLS. Its traffic is neither encrypted nor "
               "authenticated: any process on this machine can read it or call it. For tests only.\n",
               role, address.c_str());
}

}  // namespace tls_files

}  // namespace veil::transport
