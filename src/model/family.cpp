// The family registry: one FamilyTraits value per family, defined in its own file. A new family
// adds its value to kFamilies (and its Family enumerator); nothing else switches on the family.
#include "veil/model/family.h"

#include "veil/util/check.h"

namespace veil::model {

extern const FamilyTraits kGpt2Traits;
extern const FamilyTraits kLlamaTraits;

namespace {

constexpr const FamilyTraits* kFamilies[] = {&kGpt2Traits, &kLlamaTraits};

std::string known_families() {
  std::string known;
  for (const FamilyTraits* f : kFamilies) known += util::cat(known.empty() ? "" : ", ", f->name, " (", f->architecture, ")");
  return known;
}

}  // namespace

std::span<const FamilyTraits* const> families() { return kFamilies; }

const FamilyTraits& family_traits(Family family) {
  for (const FamilyTraits* f : kFamilies)
    if (f->family == family) return *f;
  throw std::invalid_argument(util::cat("unknown model family #", static_cast<int>(family),
                                        " (known: ", known_families(), ")"));
}

const FamilyTraits& family_by_name(std::string_view model_type, std::string_view architecture) {
  for (const FamilyTraits* f : kFamilies)
    if (model_type.empty() ? architecture == f->architecture : model_type == f->name) return *f;
  throw std::invalid_argument(util::cat("unknown model family '", model_type.empty() ? architecture : model_type,
                                        "' (known: ", known_families(), ")"));
}

}  // namespace veil::model
