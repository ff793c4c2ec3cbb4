#include "veil/checkpoint/checkpoint_reader.h"

#include <ATen/ATen.h>

#include <set>

#include <nlohmann/json.hpp>

#include "checkpoint/json_strict.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::checkpoint {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

CheckpointReader::CheckpointReader(const fs::path& path) {
  std::error_code ec;
  fs::path single;
  if (fs::is_directory(path, ec)) {
    if (fs::is_regular_file(path / kSingleFile, ec)) {
      single = path / kSingleFile;
    } else if (fs::is_regular_file(path / kIndexFile, ec)) {
      open_index(path / kIndexFile);
      return;
    } else {
      throw std::invalid_argument(
          util::cat(path.string(), ": no ", kSingleFile, " or ", kIndexFile, " in this directory"));
    }
  } else {
    VEIL_CHECK_IO(fs::exists(path, ec), "cannot open ", path.string(), ": no such file or directory");
    if (ends_with(path.filename().string(), ".index.json")) {
      open_index(path);
      return;
    }
    single = path;
  }
  files_.emplace_back(single);
  for (const auto& r : files_.back().header().tensors) where_.emplace(r.name, 0);
}

void CheckpointReader::open_index(const fs::path& index_path) {
  const std::string what = index_path.string();
  const std::string text = util::read_file(index_path);
  const nlohmann::json index = detail::parse_json_strict(text, 0, what);
  VEIL_CHECK_ARG(index.is_object(), what, ": must be a JSON object, got ", detail::json_type(index));
  VEIL_CHECK_ARG(index.contains("weight_map"), what, ": lacks \"weight_map\"");
  const nlohmann::json& map = index["weight_map"];
  VEIL_CHECK_ARG(map.is_object(), what, ": \"weight_map\" must be an object, got ", detail::json_type(map));
  VEIL_CHECK_ARG(!map.empty(), what, ": \"weight_map\" is empty");

  std::map<std::string, std::vector<std::string>> by_shard;  // shard file -> tensors
  for (const auto& [name, shard] : map.items()) {
    VEIL_CHECK_ARG(shard.is_string(), what, ": weight_map[\"", name, "\"] must be a file name string, got ",
                   detail::json_type(shard));
    const auto& s = shard.get_ref<const std::string&>();
    VEIL_CHECK_ARG(!s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
                       s.find('\\') == std::string::npos && s.find('\0') == std::string::npos,
                   what, ": weight_map[\"", name, "\"] = \"", s, "\" is not a plain file name in the index's directory");
    by_shard[s].push_back(name);
  }

  // Open every shard and check the map against them before anything is read: first that each
  // listed tensor is where the map says, then that no shard holds an unlisted tensor.
  files_.reserve(by_shard.size());
  for (const auto& [shard_name, names] : by_shard) {
    const fs::path shard_path = index_path.parent_path() / shard_name;
    std::error_code ec;
    VEIL_CHECK_ARG(fs::is_regular_file(shard_path, ec), what, ": shard \"", shard_name, "\" (holding tensor \"",
                   names.front(), "\") does not exist");
    files_.emplace_back(shard_path);
    for (const auto& name : names) {
      VEIL_CHECK_ARG(files_.back().contains(name), what, ": weight_map puts tensor \"", name, "\" in shard \"",
                     shard_name, "\" but that shard has no such tensor");
      where_.emplace(name, files_.size() - 1);
    }
  }
  std::size_t i = 0;
  for (const auto& [shard_name, names] : by_shard) {
    const std::set<std::string> listed(names.begin(), names.end());
    for (const auto& r : files_[i++].header().tensors) {
      VEIL_CHECK_ARG(listed.count(r.name), (index_path.parent_path() / shard_name).string(), ": unexpected tensor \"",
                     r.name, "\" not assigned to this shard by ", index_path.filename().string());
    }
  }
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, i] : where_) out.push_back(name);
  return out;
}

const SafetensorsFile& CheckpointReader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  VEIL_CHECK_ARG(it != where_.end(), "checkpoint has no tensor \"", name, "\"");
  return files_[it->second];
}

const TensorRecord& CheckpointReader::record(const std::string& name) const { return file_of(name).record(name); }

at::Tensor CheckpointReader::load(const std::string& name, const LoadOptions& opts) const {
  VEIL_CHECK_ARG(at::isFloatingType(opts.dtype), "load_weights: dtype ", c10::toString(opts.dtype),
                 " is not a floating-point type");
  const SafetensorsFile& file = file_of(name);
  const TensorRecord& r = file.record(name);
  at::Tensor t = is_floating(r.dtype) ? file.load(name, opts.dtype) : file.load_as_stored(name);
  if (!opts.allow_non_finite && is_floating(r.dtype)) {
    try {
      check_finite(name, t);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(util::cat(file.path().string(), ": ", e.what()));
    }
  }
  return t;
}

std::uint64_t CheckpointReader::data_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [name, i] : where_) n += files_[i].record(name).nbytes();
  return n;
}

}  // namespace veil::checkpoint
