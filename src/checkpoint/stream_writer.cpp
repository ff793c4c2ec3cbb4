#include "veil/checkpoint/stream_writer.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "veil/checkpoint/safetensors_header.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::checkpoint {
namespace fs = std::filesystem;

std::uint64_t TensorSpec::nbytes() const {
  std::uint64_t n = dtype_size(dtype);
  for (auto d : shape) {
    VEIL_CHECK_ARG(d >= 0, "tensor \"", name, "\" has a negative dimension");
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
}

void write_safetensors_streamed(const fs::path& path, const std::vector<TensorSpec>& specs, const TensorSource& source,
                                const std::map<std::string, std::string>& metadata) {
  std::vector<TensorRecord> records;
  records.reserve(specs.size());
  std::uint64_t offset = 0;
  for (const auto& s : specs) {
    TensorRecord r;
    r.name = s.name;
    r.dtype = s.dtype;
    r.shape = s.shape;
    r.begin = offset;
    r.end = offset + s.nbytes();
    offset = r.end;
    records.push_back(std::move(r));
  }
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");
  const std::string header = serialize_safetensors_header(records, meta);

  util::AtomicFile file(path);
  auto& out = file.stream();
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& s : specs) {
    const std::uint64_t want = s.nbytes();
    std::uint64_t got = 0;
    source(s, [&](const void* data, std::size_t n) {
      VEIL_CHECK_ARG(got + n <= want, "tensor \"", s.name, "\": the source produced more than its ", want, " bytes");
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
      got += n;
    });
    VEIL_CHECK_ARG(got == want, "tensor \"", s.name, "\": the source produced ", got, " of its ", want, " bytes");
    VEIL_CHECK_IO(out.good(), "cannot write ", path.string());
  }
  file.commit();
}

std::vector<std::vector<TensorSpec>> plan_shards(const std::vector<TensorSpec>& specs, std::uint64_t max_shard_bytes) {
  VEIL_CHECK_ARG(max_shard_bytes > 0, "the largest shard size must be positive");
  std::vector<std::vector<TensorSpec>> shards(1);
  std::uint64_t in_shard = 0;
  for (const auto& s : specs) {
    const std::uint64_t bytes = s.nbytes();
    if (!shards.back().empty() && in_shard + bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(s);
    in_shard += bytes;
  }
  VEIL_CHECK_ARG(shards.size() <= 99999, shards.size(), " shards is too many; raise the largest shard size");
  return shards;
}

std::string shard_file_name(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index, count);
  return name;
}

void write_safetensors_sharded_streamed(const fs::path& dir, const std::vector<std::vector<TensorSpec>>& shards,
                                        const TensorSource& source, const std::map<std::string, std::string>& metadata) {
  VEIL_CHECK_ARG(!shards.empty() && !shards.front().empty(), "no tensors to save");
  nlohmann::json weight_map = nlohmann::json::object();
  std::uint64_t total = 0;
  fs::create_directories(dir);
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file_name = shard_file_name(i + 1, shards.size());
    write_safetensors_streamed(dir / file_name, shards[i], source, metadata);
    for (const auto& s : shards[i]) {
      weight_map[s.name] = file_name;
      total += s.nbytes();
    }
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  util::write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace veil::checkpoint
