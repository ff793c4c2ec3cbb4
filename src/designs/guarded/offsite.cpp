#include "veil/designs/guarded/offsite.h"

#include <cmath>
#include <cstdio>
#include <set>

#include <ATen/ATen.h>

#include "veil/designs/guarded/distill.h"
#include "veil/lora/peft.h"
#include "veil/train/finetune.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::designs::guarded {
namespace fs = std::filesystem;
using nlohmann::json;

json OffsitePlan::to_json() const {
  json j = {{"full_layers", full_layers}, {"bottom", bottom}, {"top", top}, {"layers", layers}};
  if (!distillation.is_null()) j["distillation"] = distillation;
  return j;
}

OffsitePlan OffsitePlan::from_json(const json& j) {
  OffsitePlan p;
  try {
    p.full_layers = j.at("full_layers").get<int>();
    p.bottom = j.at("bottom").get<int>();
    p.top = j.at("top").get<int>();
    p.layers = j.at("layers").get<std::vector<int>>();
    if (j.contains("distillation")) p.distillation = j.at("distillation");
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("offsite plan: ") + e.what());
  }
  const int n = p.emulator_layers();
  VEIL_CHECK_ARG(p.bottom >= 1 && p.top >= 1 && p.bottom + p.top <= n && n <= p.full_layers,
                 "offsite plan: bottom/top/layers do not fit a ", p.full_layers, "-layer model");
  for (int i = 0; i < n; ++i) {
    VEIL_CHECK_ARG(p.layers[i] >= 0 && p.layers[i] < p.full_layers && (i == 0 || p.layers[i] > p.layers[i - 1]),
                   "offsite plan: layers must increase within [0, ", p.full_layers, ")");
    if (i < p.bottom) VEIL_CHECK_ARG(p.layers[i] == i, "offsite plan: bottom blocks must be kept as they are");
    if (i >= n - p.top)
      VEIL_CHECK_ARG(p.layers[i] == p.full_layers - (n - i), "offsite plan: top blocks must be kept as they are");
  }
  return p;
}

OffsitePlan OffsitePlan::read(const fs::path& dir) {
  auto path = dir / kOffsitePlanFile;
  VEIL_CHECK_ARG(fs::exists(path), "no ", kOffsitePlanFile, " in ", dir.string(), " (not an offsite emulator or run)");
  auto j = json::parse(util::read_file(path), nullptr, false);
  VEIL_CHECK_ARG(!j.is_discarded(), path.string(), " is not valid JSON");
  return from_json(j);
}

void OffsitePlan::write(const fs::path& dir) const {
  fs::create_directories(dir);
  util::write_file_atomic(dir / kOffsitePlanFile, to_json().dump(2) + "\n");
}

OffsitePlan plan_emulator(int num_layers, int bottom, int top, int keep) {
  const int middle = num_layers - bottom - top;
  VEIL_CHECK_ARG(bottom >= 1 && top >= 1 && middle >= 0, "offsite: k=", bottom, " and m=", top,
                 " must be at least 1 and leave a middle in a ", num_layers, "-layer model");
  VEIL_CHECK_ARG(keep >= 0 && keep <= middle, "offsite: keep=", keep, " must be in 0..", middle,
                 " (the middle blocks)");
  OffsitePlan p;
  p.full_layers = num_layers;
  p.bottom = bottom;
  p.top = top;
  for (int l = 0; l < bottom; ++l) p.layers.push_back(l);
  for (int i = 0; i < keep; ++i) {
    const double pos = keep == 1 ? (middle - 1) / 2.0 : static_cast<double>(i) * (middle - 1) / (keep - 1);
    p.layers.push_back(bottom + static_cast<int>(std::lround(pos)));
  }
  for (int l = num_layers - top; l < num_layers; ++l) p.layers.push_back(l);
  return p;
}

model::ModelFiles make_emulator(const model::ModelFiles& full, const OffsitePlan& plan) {
  VEIL_CHECK_ARG(full.config.num_layers == plan.full_layers, "offsite plan is for a ", plan.full_layers,
                 "-layer model, this one has ", full.config.num_layers);
  model::ModelFiles e;
  e.config = full.config;
  e.config.num_layers = plan.emulator_layers();
  e.weights.params = full.weights.params;
  e.weights.params.blocks.clear();
  for (int i = 0; i < plan.emulator_layers(); ++i) {
    const int src = plan.layers[i];
    e.weights.params.blocks.push_back(full.weights.params.blocks[src]);
    for (const auto& [site, w] : full.weights.linear)
      if (site.layer == src) e.weights.linear[{i, site.proj}] = w;
  }
  const int head = static_cast<int>(full.config.num_layers);
  e.weights.linear[{plan.emulator_layers(), model::Proj::kLmHead}] = full.weights.linear.at({head, model::Proj::kLmHead});
  return e;
}

void write_emulator(const fs::path& model, const OffsitePlan& plan, const fs::path& out) {
  write_emulator(model, make_emulator(model::read_model(model), plan), plan, out);
}

void write_emulator(const fs::path& model, const model::ModelFiles& e, const OffsitePlan& plan, const fs::path& out) {
  VEIL_CHECK_ARG(e.config.num_layers == plan.emulator_layers(), "offsite: the emulator has ", e.config.num_layers,
                 " blocks, its plan ", plan.emulator_layers());
  model::save_model(out, e.config, e.weights.params, e.weights.linear);
  if (fs::is_directory(model))
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"})
      if (fs::exists(model / f)) fs::copy_file(model / f, out / f, fs::copy_options::overwrite_existing);
  plan.write(out);
}

std::shared_ptr<model::LoraAdapters> plug_adapter(const model::LoraAdapters& emu, const model::ModelConfig& full,
                                                 const OffsitePlan& plan) {
  VEIL_CHECK_ARG(full.num_layers == plan.full_layers, "offsite: the adapter was trained for a ", plan.full_layers,
                 "-layer model, --model has ", full.num_layers);
  std::map<model::LinearSite, model::LoraPair> out;
  for (const auto& [site, p] : emu.pairs()) {
    VEIL_CHECK_ARG(site.layer < plan.emulator_layers() && plan.is_adapter_layer(site.layer),
                   "offsite: the adapter has weights on emulator layer ", site.layer,
                   ", which is not a bottom or top block");
    out[{plan.layers[site.layer], site.proj}] = {p.a.detach().clone(), p.b.detach().clone()};
  }
  return std::make_shared<model::LoraAdapters>(full, emu.config(), std::move(out));
}

namespace {

class OffsiteSession final : public train::DesignSession {
 public:
  explicit OffsiteSession(const train::FinetuneConfig& cfg) : cfg_(cfg) {
    std::map<std::string, std::string> opts = cfg.design_options;
    static const std::set<std::string> kKeys{"k", "m", "keep", "distill_data", "distill_steps", "distill_lr",
                                             "distill_seq_len", "distill_batch", "distill_target"};
    for (const auto& [k, v] : opts)
      VEIL_CHECK_ARG(kKeys.count(k), "design 'offsite' has no option '", k,
                     "' (options: k, m, keep, distill_data, distill_steps, distill_lr, distill_seq_len, "
                     "distill_batch, distill_target)");
    auto number = [&](const char* key, double def) {
      auto it = opts.find(key);
      if (it == opts.end()) return def;
      try {
        std::size_t used = 0;
        double v = std::stod(it->second, &used);
        if (used == it->second.size() && std::isfinite(v)) return v;
      } catch (const std::exception&) {
      }
      throw std::invalid_argument("--opt " + std::string(key) + "=" + it->second + ": not a number");
    };
    auto num = [&](const char* key, int def) {
      const double v = number(key, def);
      VEIL_CHECK_ARG(v == std::floor(v) && std::abs(v) < 1e9, "--opt ", key, "=", opts.at(key), ": not an integer");
      return static_cast<int>(v);
    };
    const bool is_emulator = fs::exists(cfg.model / kOffsitePlanFile);
    if (is_emulator) {
      VEIL_CHECK_ARG(opts.empty(), "offsite: ", cfg.model.string(),
                     " is already an emulator; --opt k/m/keep/distill_* apply to full models");
      plan_ = OffsitePlan::read(cfg.model);
      emu_ = model::load_model(cfg.model);
      VEIL_CHECK_ARG(emu_.model->config().num_layers == plan_.emulator_layers(), cfg.model.string(),
                     ": the model does not match its ", kOffsitePlanFile);
    } else {
      // The model owner's step, simulated in memory.
      auto files = model::read_model(cfg.model);
      const int L = static_cast<int>(files.config.num_layers);
      plan_ = plan_emulator(L, num("k", 1), num("m", 1), num("keep", (L - 2) / 2));
      auto e = make_emulator(files, plan_);
      DistillOptions d;
      if (opts.count("distill_data")) d.data = opts.at("distill_data");
      d.tokenizer = cfg.tokenizer.empty() ? cfg.model : cfg.tokenizer;
      d.steps = num("distill_steps", 0);
      d.lr = number("distill_lr", d.lr);
      d.seq_len = num("distill_seq_len", static_cast<int>(d.seq_len));
      d.batch_size = num("distill_batch", static_cast<int>(d.batch_size));
      if (opts.count("distill_target")) d.target = opts.at("distill_target");
      d.seed = cfg.seed;
      VEIL_CHECK_ARG(d.steps == 0 || !d.data.empty(), "--opt distill_steps needs --opt distill_data=FILE (public text)");
      VEIL_CHECK_ARG(d.steps > 0 || !opts.count("distill_data"), "--opt distill_data needs distill_steps > 0");
      if (d.steps > 0) {
        auto r = distill_emulator(files, e, plan_, d);
        plan_.distillation = r.to_json(d);
        std::fprintf(stderr, "veil: offsite emulator distilled: %d steps, loss %.4f -> %.4f (%.1f s)\n", r.steps,
                     r.first_loss, r.last_loss, r.seconds);
      }
      emu_.executor = std::make_shared<model::PlainExecutor>(std::move(e.weights.linear));
      emu_.model = model::build_model(e.config, std::move(e.weights.params), emu_.executor);
      full_ = model::load_model(cfg.model);
    }
    const auto& ec = emu_.model->config();
    lora_ = std::make_shared<model::LoraAdapters>(ec, cfg.lora, cfg.seed);
    for (auto it = lora_->pairs().begin(); it != lora_->pairs().end();)
      it = plan_.is_adapter_layer(it->first.layer) && it->first.proj != model::Proj::kLmHead ? std::next(it)
                                                                                            : lora_->pairs().erase(it);
    VEIL_CHECK_ARG(!lora_->pairs().empty(), "offsite: the LoRA targets match none of the adapter blocks");
    emu_.model->set_lora(lora_);
    plan_.write(cfg.out);  // `veil offsite plug` reads it beside the adapter
  }

  model::CausalLM& model() override { return *emu_.model; }
  std::shared_ptr<model::LoraAdapters> adapters() override { return lora_; }

  train::EvalStats evaluate(std::span<const train::MicroBatch> batches) override {
    auto e = train::evaluate_loss(*emu_.model, batches);
    emulator_loss_ = e.loss;
    if (!emulator_loss_before_) emulator_loss_before_ = e.loss;
    if (full_.model) {
      full_.model->set_lora(plug_adapter(*lora_, full_.model->config(), plan_));
      full_loss_ = train::evaluate_loss(*full_.model, batches).loss;
      if (!full_loss_before_) full_loss_before_ = full_loss_;
    }
    return e;
  }

  // Nothing crosses the wire while tuning; no enclave.
  DesignCost cost() const override {
    DesignCost c;
    c.bytes_up_per_token = 0;
    c.bytes_down_per_token = 0;
    c.round_trips_per_step = 0;
    c.enclave_parameter_share = 0;
    return c;
  }

  nlohmann::json report() const override {
    json j = {{"plan", plan_.to_json()},
              {"emulator_layers", plan_.emulator_layers()},
              {"full_layers", plan_.full_layers},
              {"trained_parameters", lora_->num_parameters()},
              {"bytes_on_wire_during_training", 0},
              {"server_sees", "nothing during training; the model owner receives only the adapters"}};
    if (emulator_loss_) j["emulator_val_loss"] = *emulator_loss_;
    if (emulator_loss_before_) j["emulator_val_loss_first_eval"] = *emulator_loss_before_;
    if (full_loss_before_) j["full_model_val_loss_first_eval"] = *full_loss_before_;
    if (!plan_.distillation.is_null()) j["distillation"] = plan_.distillation;
    if (full_loss_) {
      j["plugged_full_model_val_loss"] = *full_loss_;
      j["emulator_minus_full_val_loss"] = *emulator_loss_ - *full_loss_;
    }
    return j;
  }

 private:
  train::FinetuneConfig cfg_;
  OffsitePlan plan_;
  model::LoadedModel emu_, full_;
  std::shared_ptr<model::LoraAdapters> lora_;
  std::optional<double> emulator_loss_, full_loss_, emulator_loss_before_, full_loss_before_;
};

}  // namespace

std::unique_ptr<train::DesignSession> open_offsite_session(const train::FinetuneConfig& cfg) {
  return std::make_unique<OffsiteSession>(cfg);
}

}  // namespace veil::designs::guarded
