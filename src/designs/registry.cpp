#include "veil/designs/registry.h"

#include <mutex>
#include <stdexcept>

#include "designs/builtin.h"

namespace veil::designs {
namespace {

std::mutex& mu() {
  static std::mutex m;
  return m;
}
std::map<std::string, WorkerInstaller>& workers() {
  static std::map<std::string, WorkerInstaller> w;
  return w;
}

}  // namespace

void register_worker(std::string design, WorkerInstaller installer) {
  std::lock_guard lock(mu());
  workers()[std::move(design)] = std::move(installer);
}

void install_worker(const std::string& design, transport::Service& service, const WorkerContext& ctx) {
  register_builtin_designs();
  WorkerInstaller installer;
  {
    std::lock_guard lock(mu());
    auto it = workers().find(design);
    if (it == workers().end()) {
      std::string names;
      for (const auto& [n, i] : workers()) names += (names.empty() ? "" : ", ") + n;
      throw std::invalid_argument("--design '" + design + "' has no worker (designs with workers: " + names + ")");
    }
    installer = it->second;
  }
  installer(service, ctx);
}

std::vector<std::string> worker_designs() {
  std::lock_guard lock(mu());
  std::vector<std::string> out;
  for (const auto& [n, i] : workers()) out.push_back(n);
  return out;
}

void register_builtin_designs() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_plain_remote();
    register_obfuscatune();
    register_he_lora();
    register_guarded_tuning();
  });
}

}  // namespace veil::designs
