// The enclave's run table (enclave_runs.h).
#include "designs/obfuscatune/enclave_runs.h"

#include <map>
#include <mutex>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

std::mutex& runs_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, PoolOpener>& runs() {
  static std::map<std::string, PoolOpener> r;
  return r;
}

}  // namespace

std::string add_enclave_run(PoolOpener open) {
  const std::string id = tee::to_hex(tee::random_bytes(8));
  std::lock_guard lock(runs_mu());
  runs()[id] = std::move(open);
  return id;
}

void remove_enclave_run(const std::string& id) {
  std::lock_guard lock(runs_mu());
  runs().erase(id);
}

PoolOpener enclave_run(const std::string& id) {
  std::lock_guard lock(runs_mu());
  const auto it = runs().find(id);
  VEIL_CHECK_ARG(it != runs().end(), "obfuscatune: --opt ", kEnclaveRunKey, " is reserved for runs inside `veil enclave`");
  return it->second;
}

}  // namespace veil::designs::obfuscatune
