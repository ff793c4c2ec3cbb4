#include "veil/model/config.h"

#include <nlohmann/json.hpp>

#include "config_fields.h"
#include "veil/model/family.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::model {
using nlohmann::json;

const char* family_name(Family f) { return family_traits(f).name; }

namespace {

const FamilyTraits& detect_family(const json& j) {
  std::string type = detail::get_or<std::string>(j, "model_type", "");
  std::string arch;
  if (type.empty() && j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    arch = j["architectures"][0].get<std::string>();
  for (const FamilyTraits* f : families())
    if (type.empty() ? arch == f->architecture : type == f->name) return *f;
  std::string known;
  for (const FamilyTraits* f : families())
    known += util::cat(known.empty() ? "" : ", ", f->name, " = ", f->architecture);
  throw std::invalid_argument(util::cat("config.json: unsupported model_type '", type, "' (supported: ", known, ")"));
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j) {
  VEIL_CHECK_ARG(j.is_object(), "config.json: expected a JSON object");
  ModelConfig c = detect_family(j).parse_config(j);
  c.validate();
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  auto text = util::read_file(path);
  json j = json::parse(text, nullptr, false);
  VEIL_CHECK_ARG(!j.is_discarded(), path.string(), ": not valid JSON");
  try {
    return from_json(j);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(util::cat(path.string(), ": ", e.what()));
  }
}

void ModelConfig::validate() const {
  (void)family_traits(family);  // an unregistered family is refused by name
  auto positive = [](std::int64_t v, const char* name) {
    VEIL_CHECK_ARG(v > 0 && v < (std::int64_t{1} << 31), "config.json: ", name, " must be positive (got ", v, ")");
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(num_layers, "num_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(intermediate_size, "intermediate_size");
  positive(max_position_embeddings, "max_position_embeddings");
  VEIL_CHECK_ARG(num_heads % num_kv_heads == 0, "config.json: num_attention_heads (", num_heads,
                 ") must be a multiple of num_key_value_heads (", num_kv_heads, ")");
  VEIL_CHECK_ARG(head_dim % 2 == 0 || family_traits(family).positions != Positions::kRope,
                 "config.json: head_dim must be even for RoPE");
  VEIL_CHECK_ARG(norm_eps > 0 && norm_eps < 1, "config.json: norm epsilon out of range");
  VEIL_CHECK_ARG(rope_theta > 0, "config.json: rope_theta must be positive");
}

std::int64_t ModelConfig::num_parameters() const {
  // The family's layout, counted without allocating (the tied LM head shares the embedding).
  std::int64_t n = 0;
  (void)init_weights(*this, [&](std::vector<std::int64_t> shape, Init) {
    std::int64_t k = 1;
    for (auto d : shape) k *= d;
    n += k;
    return at::Tensor();
  });
  return n;
}

json ModelConfig::to_json() const {
  json j = family_traits(family).config_json(*this);
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids.front();
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  return j;
}

}  // namespace veil::model
