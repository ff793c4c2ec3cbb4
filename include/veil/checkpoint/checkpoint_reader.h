// A checkpoint opened for reading tensor by tensor: a single safetensors file or a sharded one
// (model.safetensors.index.json). Opening reads and checks the headers only (and the index against
// them); each tensor is read when asked for, so a party that needs a few tensors holds only those.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "veil/checkpoint/safetensors_file.h"
#include "veil/checkpoint/weights.h"

namespace veil::checkpoint {

class CheckpointReader {
 public:
  // `path` as for load_weights (weights.h): a directory holding model.safetensors or
  // model.safetensors.index.json, a .safetensors file, or a *.safetensors.index.json file. Every
  // shard of an index is opened and checked now: it must exist, hold the tensors the map assigns
  // to it and nothing else. Throws std::invalid_argument (the message names the file and tensor)
  // or std::runtime_error (I/O).
  explicit CheckpointReader(const std::filesystem::path& path);

  [[nodiscard]] std::vector<std::string> names() const;  // sorted
  [[nodiscard]] bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Throws std::invalid_argument naming the tensor when it is absent.
  [[nodiscard]] const TensorRecord& record(const std::string& name) const;
  // Reads one tensor: floating tensors converted to opts.dtype (and checked finite unless
  // opts.allow_non_finite), others as stored. Throws as SafetensorsFile::load, and
  // std::invalid_argument naming the file and tensor for a non-finite value.
  [[nodiscard]] at::Tensor load(const std::string& name, const LoadOptions& opts = {}) const;
  // Bytes of tensor data over all files.
  [[nodiscard]] std::uint64_t data_bytes() const;
  [[nodiscard]] std::size_t num_files() const { return files_.size(); }

 private:
  void open_index(const std::filesystem::path& index_path);
  [[nodiscard]] const SafetensorsFile& file_of(const std::string& name) const;

  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;  // tensor name -> index in files_
};

}  // namespace veil::checkpoint
