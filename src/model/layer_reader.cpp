#include "veil/model/layer_reader.h"

#include <ATen/ATen.h>

#include "veil/checkpoint/checkpoint_reader.h"
#include "veil/model/family.h"
#include "veil/util/check.h"

namespace veil::model {
namespace fs = std::filesystem;

ModelReader::ModelReader(const fs::path& dir) {
  std::error_code ec;
  VEIL_CHECK_ARG(fs::is_directory(dir, ec), dir.string(),
                 ": not a model directory (config.json + safetensors); a llama2.c file is read whole by read_model");
  VEIL_CHECK_ARG(fs::exists(dir / "config.json", ec), dir.string(), " has no config.json");
  config_ = ModelConfig::from_file(dir / "config.json");
  reader_ = std::make_unique<checkpoint::CheckpointReader>(dir);
}

ModelReader::~ModelReader() = default;
ModelReader::ModelReader(ModelReader&&) noexcept = default;
ModelReader& ModelReader::operator=(ModelReader&&) noexcept = default;

std::string ModelReader::resolve(const std::string& name) const {
  if (reader_->contains(name)) return name;
  // Checkpoints saved from the base module (GPT2Model) lack the top module's prefix.
  const std::string prefix = "transformer.";
  if (name.rfind(prefix, 0) == 0 && reader_->contains(name.substr(prefix.size()))) return name.substr(prefix.size());
  throw std::invalid_argument(util::cat("checkpoint is missing tensor '", name, "'"));
}

at::Tensor ModelReader::tensor(const std::string& name) const { return reader_->load(resolve(name)); }

at::Tensor ModelReader::linear(int layer, Proj p) const {
  const int n = static_cast<int>(config_.num_layers);
  const bool head = p == Proj::kLmHead;
  VEIL_CHECK_ARG(head ? layer == n : (layer >= 0 && layer < n), "layer ", layer, " with ", proj_module_name(p),
                 " is not in the model's ", n, " layers");
  std::string name = proj_module_path(config_.family, layer, p) + ".weight";
  if (head && config_.tie_word_embeddings)
    name = param_key(family_traits(config_.family), ParamSlot::kTokEmb);
  auto [out, in] = proj_shape(config_, p);
  const bool transposed = proj_stored_transposed(config_.family, p);
  const std::vector<std::int64_t> want = transposed ? std::vector<std::int64_t>{in, out} : std::vector<std::int64_t>{out, in};
  const std::string stored = resolve(name);
  const auto& rec = reader_->record(stored);
  VEIL_CHECK_ARG(rec.shape == want, "tensor '", stored, "' has shape ", at::IntArrayRef(rec.shape), ", expected ",
                 at::IntArrayRef(want));
  at::Tensor t = reader_->load(stored);
  return transposed ? t.t().contiguous() : t;
}

LinearWeights ModelReader::linear_layers(int first, int last) const {
  VEIL_CHECK_ARG(first >= 0 && first < last && last <= config_.num_layers, "layers ", first, ":", last,
                 " are not a non-empty range within the model's ", config_.num_layers, " layers");
  LinearWeights out;
  const auto bp = block_projections(config_.family);
  for (int l = first; l < last; ++l)
    for (auto group : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out})
      for (Proj p : group) out[{l, p}] = linear(l, p);
  return out;
}

}  // namespace veil::model
