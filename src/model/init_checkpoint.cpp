#include "veil/model/init_checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "veil/model/family.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* torch_dtype(checkpoint::DType d) {
  switch (d) {
    case checkpoint::DType::BF16: return "bfloat16";
    case checkpoint::DType::F16: return "float16";
    case checkpoint::DType::F32: return "float32";
    default: break;
  }
  throw std::invalid_argument(util::cat("checkpoint dtype ", checkpoint::dtype_name(d), " is not one of F32, F16, BF16"));
}

// Files of a Hugging Face tokenizer that are copied when present.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                           "vocab.json", "merges.txt"};

void copy_tokenizer(const fs::path& from, const fs::path& to_dir) {
  std::error_code ec;
  if (fs::is_regular_file(from, ec)) {
    VEIL_CHECK_ARG(from.extension() == ".json", "--tokenizer ", from.string(),
                   ": expected a tokenizer.json file or a tokenizer directory");
    util::write_file_atomic(to_dir / "tokenizer.json", util::read_file(from));
    return;
  }
  VEIL_CHECK_ARG(fs::is_directory(from, ec), "--tokenizer ", from.string(), ": no such file or directory");
  int copied = 0;
  for (const char* name : kTokenizerFiles) {
    if (!fs::is_regular_file(from / name, ec)) continue;
    // Copied by content: the source may be read-only, the model directory must not be.
    util::write_file_atomic(to_dir / name, util::read_file(from / name));
    ++copied;
  }
  VEIL_CHECK_ARG(copied > 0, "--tokenizer ", from.string(), ": holds no tokenizer.json or vocab.json + merges.txt");
}

// Removes the staging directory unless released.
struct StagingDir {
  fs::path path;
  ~StagingDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

json init_config_json(const ModelConfig& cfg, checkpoint::DType dtype) {
  json j = cfg.to_json();
  j["torch_dtype"] = torch_dtype(dtype);
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  json generation;
  family_traits(cfg.family).hf_extras(j, generation);
  return j;
}

json init_generation_config_json(const ModelConfig& cfg) {
  json j = {{"_from_model_config", true}};
  if (cfg.bos_token_id) j["bos_token_id"] = *cfg.bos_token_id;
  if (cfg.eos_token_ids.size() == 1) j["eos_token_id"] = cfg.eos_token_ids.front();
  if (cfg.eos_token_ids.size() > 1) j["eos_token_id"] = cfg.eos_token_ids;
  json config;
  family_traits(cfg.family).hf_extras(config, j);
  return j;
}

void check_init_destination(const fs::path& out) {
  VEIL_CHECK_ARG(!out.empty(), "--out: no directory given");
  std::error_code ec;
  if (fs::exists(out, ec)) {
    VEIL_CHECK_ARG(fs::is_directory(out, ec) && fs::is_empty(out, ec), "--out ", out.string(),
                   " already exists and is not an empty directory; choose a new path or remove it");
    return;
  }
  for (fs::path p = fs::absolute(out).parent_path(); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p, ec)) {
      VEIL_CHECK_ARG(fs::is_directory(p, ec), "--out ", out.string(), ": ", p.string(), " is not a directory");
      return;
    }
    if (p == p.parent_path()) return;
  }
}

RandomCheckpointInfo init_checkpoint(const fs::path& out, const ModelConfig& cfg, const InitOptions& opts) {
  cfg.validate();
  (void)torch_dtype(opts.weights.dtype);
  check_init_destination(out);
  std::error_code ec;
  VEIL_CHECK_ARG(!opts.tokenizer.empty(), "no tokenizer given (--tokenizer DIR_OR_FILE)");
  const fs::path parent = fs::absolute(out).parent_path();
  fs::create_directories(parent, ec);
  VEIL_CHECK_IO(fs::is_directory(parent, ec), "--out ", out.string(), ": cannot create its parent directory ",
                parent.string());

  std::string tmpl = (parent / (".veil-init-XXXXXX")).string();
  VEIL_CHECK_IO(::mkdtemp(tmpl.data()) != nullptr, "cannot create a directory in ", parent.string(), ": ",
                std::strerror(errno));
  StagingDir staging{tmpl};
  // mkdtemp makes it 0700; the model directory gets the usual permissions (less the umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(staging.path, static_cast<fs::perms>(0777 & ~mask), ec);

  copy_tokenizer(opts.tokenizer, staging.path);
  const auto tok = tokenizer::load_tokenizer(staging.path);
  VEIL_CHECK_ARG(tok->vocab_size() <= cfg.vocab_size, "--tokenizer ", opts.tokenizer.string(), " has ",
                 tok->vocab_size(), " tokens, more than the model's vocabulary of ", cfg.vocab_size);

  util::write_file_atomic(staging.path / "config.json", init_config_json(cfg, opts.weights.dtype).dump(2) + "\n");
  util::write_file_atomic(staging.path / "generation_config.json", init_generation_config_json(cfg).dump(2) + "\n");
  const auto info = write_random_weights(staging.path, cfg, opts.weights);
  util::replace_directory(staging.path, out);
  staging.path.clear();
  return info;
}

}  // namespace veil::model
