// veil offsite emulate|plug: the model owner's two steps of the `offsite` design.
//   emulate: write the emulator (bottom k and top m blocks kept, `keep` middle blocks uniformly
//            kept, optionally distilled on public text) as an HF model directory the data owner
//            fine-tunes with --design offsite;
//   plug:    map the adapter trained on the emulator back to the full model's layers (PEFT), and
//            optionally merge it into a full model directory.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "veil/designs/guarded/distill.h"
#include "veil/designs/guarded/offsite.h"
#include "veil/lora/peft.h"
#include "veil/model/loader.h"
#include "veil/util/check.h"

namespace veil::cli {

Action add_offsite(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("offsite", "Offsite-Tuning: build an emulator, or plug adapters trained on it into the full model");
  cmd->require_subcommand(1);
  struct Opts {
    std::string model, out, adapter, merged;
    int k = 1, m = 1, keep = -1;
    std::string tokenizer;
    designs::guarded::DistillOptions distill;
  };
  auto o = std::make_shared<Opts>();
  auto* emulate = cmd->add_subcommand("emulate", "write the emulator of --model to --out");
  emulate->add_option("--model", o->model, "full model (HF directory)")->required();
  emulate->add_option("--out", o->out, "emulator directory")->required();
  emulate->add_option("--k", o->k, "bottom blocks kept as adapters")->check(CLI::Range(1, 4096));
  emulate->add_option("--m", o->m, "top blocks kept as adapters")->check(CLI::Range(1, 4096));
  emulate->add_option("--keep", o->keep, "middle blocks kept, spread uniformly (default: half)");
  emulate->add_option("--distill-data", o->distill.data, "public text to distil the kept middle blocks on");
  emulate->add_option("--distill-steps", o->distill.steps, "distillation steps (0: layer drop only)")
      ->check(CLI::Range(0, 1 << 24));
  emulate->add_option("--distill-lr", o->distill.lr, "distillation learning rate (AdamW)")->capture_default_str();
  emulate->add_option("--distill-seq-len", o->distill.seq_len, "tokens per distillation row")->capture_default_str();
  emulate->add_option("--distill-batch", o->distill.batch_size, "rows per distillation step")->capture_default_str();
  emulate->add_option("--distill-target", o->distill.target, "hidden (the middle's output) or logits (KL)")
      ->capture_default_str();
  emulate->add_option("--distill-seed", o->distill.seed, "data order of the distillation")->capture_default_str();
  emulate->add_option("--tokenizer", o->tokenizer, "tokenizer for --distill-data (default: --model's)");
  auto* plug = cmd->add_subcommand("plug", "map an emulator adapter to the full model");
  plug->add_option("--model", o->model, "full model (HF directory)")->required();
  plug->add_option("--adapter", o->adapter, "adapter trained with --design offsite (holds veil_offsite.json)")->required();
  plug->add_option("--out", o->out, "output PEFT adapter directory for the full model")->required();
  plug->add_option("--merged", o->merged, "also write the full model with the adapter merged here");
  return [o, emulate, plug] {
    namespace fs = std::filesystem;
    using namespace designs::guarded;
    if (*emulate) {
      auto cfg = model::ModelConfig::from_file(fs::path(o->model) / "config.json");
      const int L = static_cast<int>(cfg.num_layers);
      auto plan = plan_emulator(L, o->k, o->m, o->keep >= 0 ? o->keep : (L - o->k - o->m) / 2);
      VEIL_CHECK_ARG(o->distill.steps == 0 || !o->distill.data.empty(), "--distill-steps needs --distill-data");
      VEIL_CHECK_ARG(o->distill.steps > 0 || o->distill.data.empty(), "--distill-data needs --distill-steps > 0");
      auto full = model::read_model(o->model);
      auto emu = make_emulator(full, plan);
      if (o->distill.steps > 0) {
        o->distill.tokenizer = o->tokenizer.empty() ? fs::path(o->model) : fs::path(o->tokenizer);
        auto r = distill_emulator(full, emu, plan, o->distill);
        plan.distillation = r.to_json(o->distill);
        std::fprintf(stderr, "veil: distilled the middle on %s: %d steps, loss %.4f -> %.4f (%.1f s)\n",
                     o->distill.data.c_str(), r.steps, r.first_loss, r.last_loss, r.seconds);
      }
      write_emulator(o->model, emu, plan, o->out);
      std::fprintf(stderr, "veil: emulator with %d of %d blocks written to %s\n", plan.emulator_layers(), L,
                   o->out.c_str());
      return 0;
    }
    (void)plug;
    auto plan = OffsitePlan::read(o->adapter);
    auto files = model::read_model(o->model);
    auto emu_cfg = files.config;
    emu_cfg.num_layers = plan.emulator_layers();
    auto adapter = plug_adapter(*lora::load_peft_adapter(o->adapter, emu_cfg), files.config, plan);
    lora::save_peft_adapter(o->out, files.config, *adapter, o->model);
    std::fprintf(stderr, "veil: adapter for the %lld-layer model written to %s\n",
                 static_cast<long long>(files.config.num_layers), o->out.c_str());
    if (!o->merged.empty()) {
      lora::merge_adapter(files.weights.linear, *adapter);
      model::save_model(o->merged, files.config, files.weights.params, files.weights.linear);
      for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"})
        if (fs::exists(fs::path(o->model) / f))
          fs::copy_file(fs::path(o->model) / f, fs::path(o->merged) / f, fs::copy_options::overwrite_existing);
      std::fprintf(stderr, "veil: merged model written to %s\n", o->merged.c_str());
    }
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{75, add_offsite};
}  // namespace

}  // namespace veil::cli
