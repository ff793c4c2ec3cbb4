#include <ATen/ATen.h>

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/checkpoint/safetensors_file.h"
#include "veil/checkpoint/safetensors_header.h"
#include "veil/checkpoint/stream_writer.h"
#include "veil/checkpoint/weights.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::checkpoint {
namespace fs = std::filesystem;
namespace {

// The dtype `t` is written as.
DType stored_dtype(const std::string& name, const at::Tensor& t, DType store) {
  VEIL_CHECK_ARG(t.defined(), "save_safetensors: tensor \"", name, "\" is undefined");
  VEIL_CHECK_ARG(!t.is_complex(), "save_safetensors: tensor \"", name, "\" is complex");
  if (at::isFloatingType(t.scalar_type())) return store;
  try {
    return from_scalar_type(t.scalar_type());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(util::cat("save_safetensors: tensor \"", name, "\": ", e.what()));
  }
}

using Entry = std::pair<const std::string*, const at::Tensor*>;

// Writes one safetensors file holding `entries` (in the given order) atomically, through the
// streamed writer (stream_writer.h): one header layout and one atomic write for both.
void write_file(const fs::path& path, const std::vector<Entry>& entries,
                const std::map<std::string, std::string>& metadata, DType store) {
  std::vector<TensorSpec> specs;
  specs.reserve(entries.size());
  for (const auto& [name, t] : entries) specs.push_back({*name, stored_dtype(*name, *t, store), t->sizes().vec()});
  std::size_t next = 0;  // the writer asks for the tensors in order
  write_safetensors_streamed(
      path, specs,
      [&](const TensorSpec& spec, const ByteSink& sink) {
        const at::Tensor data = entries[next++].second->detach().to(at::kCPU, to_scalar_type(spec.dtype)).contiguous();
        sink(data.data_ptr(), static_cast<std::size_t>(spec.nbytes()));
      },
      metadata);
}

void check_store(DType store) {
  VEIL_CHECK_ARG(is_floating(store), "save_safetensors: store dtype ", dtype_name(store),
                 " is not a floating-point type");
}

std::uint64_t stored_bytes(const std::string& name, const at::Tensor& t, DType store) {
  return static_cast<std::uint64_t>(t.numel()) * dtype_size(stored_dtype(name, t, store));
}

}  // namespace

void save_safetensors(const fs::path& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                      DType store) {
  check_store(store);
  std::vector<Entry> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, t] : tensors) entries.emplace_back(&name, &t);
  write_file(path, entries, metadata, store);
}

std::size_t save_safetensors_sharded(const fs::path& dir, const TensorMap& tensors, std::uint64_t max_shard_bytes,
                                     const std::map<std::string, std::string>& metadata, DType store) {
  check_store(store);
  VEIL_CHECK_ARG(max_shard_bytes > 0, "save_safetensors_sharded: max_shard_bytes must be positive");
  VEIL_CHECK_ARG(!tensors.empty(), "save_safetensors_sharded: no tensors to save");

  // Greedy packing in name order.
  std::vector<std::vector<Entry>> shards(1);
  std::uint64_t in_shard = 0, total = 0;
  for (const auto& [name, t] : tensors) {
    const std::uint64_t bytes = stored_bytes(name, t, store);
    if (!shards.back().empty() && in_shard + bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().emplace_back(&name, &t);
    in_shard += bytes;
    total += bytes;
  }

  const std::size_t n = shards.size();
  VEIL_CHECK_ARG(n <= 99999, "save_safetensors_sharded: ", n, " shards is too many; raise max_shard_bytes");
  nlohmann::json weight_map = nlohmann::json::object();
  fs::create_directories(dir);
  for (std::size_t i = 0; i < n; ++i) {
    char file_name[64];
    std::snprintf(file_name, sizeof file_name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    write_file(dir / file_name, shards[i], metadata, store);
    for (const auto& [name, t] : shards[i]) weight_map[*name] = file_name;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  util::write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
  return n;
}

}  // namespace veil::checkpoint
