// report_data_binding (include/veil/tee/report_data.h).
#include "veil/tee/report_data.h"

#include <openssl/evp.h>

#include <cstdint>
#include <limits>
#include <stdexcept>

#include "veil/util/check.h"

namespace veil::tee {
namespace {
void put_be32(std::string& out, std::size_t n) {
  VEIL_CHECK_ARG(n <= std::numeric_limits<std::uint32_t>::max(), "report_data_binding: input of ", n, " bytes");
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
}
}  // namespace

std::string report_data_binding(std::string_view enclave_public_key, std::string_view nonce) {
  VEIL_CHECK_ARG(!enclave_public_key.empty(), "report_data_binding: empty enclave key");
  std::string msg("veil-report-data-v1");
  msg.push_back('\0');
  put_be32(msg, enclave_public_key.size());
  msg.append(enclave_public_key);
  put_be32(msg, nonce.size());
  msg.append(nonce);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(msg.data(), msg.size(), md, &len, EVP_sha512(), nullptr) != 1 || len != 64)
    throw std::runtime_error("OpenSSL SHA-512 failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace veil::tee
