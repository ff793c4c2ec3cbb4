// Writing safetensors checkpoints tensor by tensor: the header is computed from names, dtypes and
// shapes alone, then each tensor's bytes are produced and written in turn, so a writer holds one
// tensor (or one piece of one) at a time, however large the checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "veil/checkpoint/dtype.h"

namespace veil::checkpoint {

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;

  [[nodiscard]] std::uint64_t nbytes() const;
};

// Receives `n` bytes of the tensor being written; may be called several times per tensor.
using ByteSink = std::function<void(const void* data, std::size_t n)>;
// Produces the bytes of `spec` (exactly spec.nbytes(), in the stored dtype, little-endian,
// row-major) by calling `sink`.
using TensorSource = std::function<void(const TensorSpec& spec, const ByteSink& sink)>;

// Writes one safetensors file holding `specs` in the given order, atomically (temporary file +
// rename). Throws std::invalid_argument for a bad name (see serialize_safetensors_header), a
// source that produces more or fewer bytes than its tensor holds; std::runtime_error on I/O.
void write_safetensors_streamed(const std::filesystem::path& path, const std::vector<TensorSpec>& specs,
                                const TensorSource& source, const std::map<std::string, std::string>& metadata = {});

// Groups `specs` (in the given order) into shards of at most `max_shard_bytes` of tensor data
// (a larger single tensor gets a shard of its own). Throws std::invalid_argument when
// max_shard_bytes is 0 or more than 99999 shards would be needed.
[[nodiscard]] std::vector<std::vector<TensorSpec>> plan_shards(const std::vector<TensorSpec>& specs,
                                                              std::uint64_t max_shard_bytes);

// "model-00001-of-00003.safetensors" (1-based `index`), the Hugging Face shard naming.
[[nodiscard]] std::string shard_file_name(std::size_t index, std::size_t count);

// Writes `shards` into `dir` as model-0000i-of-0000N.safetensors, each atomically, then
// model.safetensors.index.json ({"metadata": {"total_size": ...}, "weight_map": ...}) last.
void write_safetensors_sharded_streamed(const std::filesystem::path& dir,
                                        const std::vector<std::vector<TensorSpec>>& shards,
                                        const TensorSource& source,
                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace veil::checkpoint
