// veil init: a model of a preset shape with random weights, the real config and a real tokenizer,
// so runs at any size can be reproduced without downloading weights (docs/checkpoint.md).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "command.h"
#include "veil/model/family.h"
#include "veil/model/init_checkpoint.h"
#include "veil/model/presets.h"
#include "veil/util/check.h"
#include "veil/util/progress.h"

namespace veil::cli {
namespace {
namespace fs = std::filesystem;

struct InitFlags {
  std::string preset, out, dtype = "bf16", tokenizer;
  std::uint64_t seed = 0;
  int layers = 0;
  double max_shard_mb = 2048;
};

checkpoint::DType parse_dtype(const std::string& s) {
  if (s == "bf16" || s == "bfloat16") return checkpoint::DType::BF16;
  if (s == "f16" || s == "float16" || s == "fp16") return checkpoint::DType::F16;
  if (s == "f32" || s == "float32" || s == "fp32") return checkpoint::DType::F32;
  throw std::invalid_argument("--dtype '" + s + "': expected bf16, f16 or f32");
}

// The shared assets' tokenizer of the family: $VEIL_SHARED_DIR/assets/tokenizers/<name>, else
// ../shared/assets/tokenizers/<name> from the working directory or from the repository holding
// this executable (build/<preset>/bin/veil). Empty when none exists.
fs::path default_tokenizer(model::Family family) {
  const char* name = model::family_traits(family).tokenizer;
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("VEIL_SHARED_DIR"); env && *env) roots.emplace_back(env);
  roots.emplace_back("../shared");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) roots.push_back(exe.parent_path() / "../../../../shared");
  for (const auto& r : roots) {
    const fs::path dir = r / "assets" / "tokenizers" / name;
    if (fs::is_regular_file(dir / "tokenizer.json", ec) || fs::is_regular_file(dir / "vocab.json", ec))
      return dir.lexically_normal();
  }
  return {};
}

int run_init(const InitFlags& f, bool quiet) {
  model::ModelConfig cfg = model::preset(f.preset);
  if (f.layers != 0) {
    VEIL_CHECK_ARG(f.layers > 0 && f.layers <= 1024, "--layers ", f.layers, ": expected 1..1024");
    cfg.num_layers = f.layers;
  }
  VEIL_CHECK_ARG(f.max_shard_mb > 0 && f.max_shard_mb <= (1 << 24), "--max-shard-mb must be in (0, 16777216]");
  model::InitOptions opts;
  opts.weights.dtype = parse_dtype(f.dtype);
  opts.weights.seed = f.seed;
  opts.weights.max_shard_bytes = static_cast<std::uint64_t>(f.max_shard_mb * (1 << 20));
  // A bad --out is the error to report whatever else is missing (the tokenizer looked for next).
  model::check_init_destination(f.out);
  opts.tokenizer = f.tokenizer.empty() ? default_tokenizer(cfg.family) : fs::path(f.tokenizer);
  VEIL_CHECK_ARG(!opts.tokenizer.empty(), "no tokenizer found for preset ", f.preset, " (looked for ",
                 model::family_traits(cfg.family).tokenizer,
                 " in $VEIL_SHARED_DIR/assets/tokenizers and ../shared/assets/tokenizers); pass --tokenizer DIR_OR_FILE");

  const auto layout = model::checkpoint_layout(cfg, opts.weights.dtype);
  util::Progress progress("veil init", static_cast<std::int64_t>(layout.size()), "MB", !quiet);
  std::uint64_t last = 0;
  opts.weights.on_tensor = [&](const checkpoint::TensorSpec&, std::uint64_t done, std::uint64_t) {
    progress.advance(1, static_cast<std::int64_t>((done - last) >> 20));
    last = done;
  };
  std::fprintf(stderr, "veil init: %s, %lld parameters, %s, seed %llu, tokenizer %s\n", f.preset.c_str(),
               static_cast<long long>(cfg.num_parameters()), f.dtype.c_str(), static_cast<unsigned long long>(f.seed),
               opts.tokenizer.string().c_str());
  const auto info = model::init_checkpoint(f.out, cfg, opts);
  progress.finish();
  std::printf("veil init: wrote %s: %lld parameters, %.1f MB of weights in %s\n", f.out.c_str(),
              static_cast<long long>(info.parameters), info.bytes / 1e6,
              info.shards == 0 ? "model.safetensors" : (std::to_string(info.shards) + " shards").c_str());
  return 0;
}

Action add_init(CLI::App& app, const CommonOptions& common) {
  auto f = std::make_shared<InitFlags>();
  auto* cmd = app.add_subcommand("init", "write a model of a preset shape with random weights, its config and tokenizer");
  std::string names;
  for (const auto& n : model::preset_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--preset", f->preset, "model shape: " + names)->required();
  cmd->add_option("--out", f->out, "model directory to create (must not exist, or be empty)")->required();
  cmd->add_option("--dtype", f->dtype, "weight dtype: bf16, f16 or f32")->capture_default_str();
  cmd->add_option("--seed", f->seed, "random seed (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--tokenizer", f->tokenizer,
                  "tokenizer directory or tokenizer.json (default: the family's in ../shared/assets/tokenizers)");
  cmd->add_option("--layers", f->layers, "number of layers instead of the preset's");
  cmd->add_option("--max-shard-mb", f->max_shard_mb, "weights above this size go to shards + an index, MiB")
      ->capture_default_str();
  return [f, &common] { return run_init(*f, common.quiet); };
}

const CommandRegistrar kRegistrar{5, add_init};

}  // namespace
}  // namespace veil::cli
