#include "veil/designs/spec.h"

#include <mutex>
#include <stdexcept>

#include "veil/util/check.h"

namespace veil::designs {
namespace {

std::mutex& mu() {
  static std::mutex m;
  return m;
}
std::vector<DesignSpec>& specs() {
  static std::vector<DesignSpec> s;
  return s;
}
DesignSpec* find_locked(const std::string& name) {
  for (auto& s : specs())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

void register_design_spec(DesignSpec spec) {
  VEIL_CHECK_ARG(!spec.name.empty(), "a design spec needs a name");
  std::lock_guard lock(mu());
  if (auto* s = find_locked(spec.name)) {
    *s = std::move(spec);
    return;
  }
  specs().push_back(std::move(spec));
}

void update_design_spec(const std::string& name, const std::function<void(DesignSpec&)>& edit) {
  VEIL_CHECK_ARG(!name.empty(), "a design spec needs a name");
  std::lock_guard lock(mu());
  auto* s = find_locked(name);
  if (!s) {
    specs().push_back({});
    s = &specs().back();
    s->name = name;
  }
  edit(*s);
}

std::optional<DesignSpec> find_design_spec(const std::string& name) {
  std::lock_guard lock(mu());
  if (const auto* s = find_locked(name)) return *s;
  return std::nullopt;
}

DesignSpec design_spec(const std::string& name) {
  if (auto s = find_design_spec(name)) return *s;
  std::string names;
  for (const auto& s : design_specs()) names += (names.empty() ? "" : ", ") + s.name;
  VEIL_CHECK_ARG(false, "design '", name, "' is not registered (registered: ", names.empty() ? "none" : names, ")");
  return {};
}

std::vector<DesignSpec> design_specs() {
  std::lock_guard lock(mu());
  return specs();
}

}  // namespace veil::designs
