#include "veil/train/finetune.h"

#include <chrono>
#include <fstream>

#include <ATen/ATen.h>

#include "veil/data/batch.h"
#include "veil/data/data_loader.h"
#include "veil/data/example.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/lora.h"
#include "veil/train/design.h"
#include "veil/tokenizer/tokenizer.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"
#include "veil/util/progress.h"
#include "veil/util/svg_plot.h"

namespace veil::train {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> available_designs() {
  std::vector<std::string> names;
  for (const auto& d : registered_designs()) names.push_back(d.name);
  return names;
}

void FinetuneConfig::validate() const {
  VEIL_CHECK_ARG(!model.empty(), "--model is required");
  VEIL_CHECK_ARG(!data.empty(), "--data is required");
  VEIL_CHECK_ARG(!out.empty(), "--out is required");
  const auto d = available_designs();
  if (std::find(d.begin(), d.end(), design) == d.end()) {
    std::string names;
    for (const auto& n : d) names += (names.empty() ? "" : ", ") + n;
    VEIL_CHECK_ARG(false, "--design '", design, "' is not available (available: ", names.empty() ? std::string("none registered: a program using libveil calls designs::register_builtin_designs() first") : names, ")");
  }
  VEIL_CHECK_ARG(batch_size >= 1, "--batch-size must be at least 1");
  VEIL_CHECK_ARG(grad_accum >= 1, "--grad-accum must be at least 1");
  VEIL_CHECK_ARG(seq_len >= 2 && seq_len <= 1 << 20, "--seq-len must be in 2..1048576");
  VEIL_CHECK_ARG(epochs >= 1, "--epochs must be at least 1");
  VEIL_CHECK_ARG(max_steps >= 0 && eval_every >= 0 && save_every >= 0, "step counts must not be negative");
  VEIL_CHECK_ARG(val_fraction >= 0 && val_fraction < 1, "--val-fraction must be in [0, 1)");
  VEIL_CHECK_ARG(!layout || *layout == "pack" || *layout == "pad", "--layout must be 'pack' or 'pad'");
  lora.validate();
}

namespace {

std::vector<MicroBatch> all_batches(const data::TokenRows& rows, std::int64_t batch_size) {
  std::vector<MicroBatch> out;
  for (std::int64_t r = 0; r < rows.num_rows(); r += batch_size) {
    std::vector<std::int64_t> idx;
    for (std::int64_t k = r; k < std::min(rows.num_rows(), r + batch_size); ++k) idx.push_back(k);
    auto b = data::make_batch(rows, idx);
    out.push_back({b.input_ids, b.labels});
  }
  return out;
}

// Rows [begin, end) of `rows` as a new TokenRows.
data::TokenRows slice_rows(const data::TokenRows& rows, std::int64_t begin, std::int64_t end) {
  data::TokenRows s;
  s.seq_len = rows.seq_len;
  const auto n = rows.row_len();
  s.ids.assign(rows.ids.begin() + begin * n, rows.ids.begin() + end * n);
  s.loss_mask.assign(rows.loss_mask.begin() + begin * n, rows.loss_mask.begin() + end * n);
  return s;
}

// Copies saved adapter weights into the live (optimizer-owned) tensors.
void copy_adapter_into(model::LoraAdapters& live, const model::LoraAdapters& saved) {
  at::NoGradGuard g;
  VEIL_CHECK_ARG(live.pairs().size() == saved.pairs().size(), "checkpoint adapter covers ", saved.pairs().size(),
                 " projections, this run ", live.pairs().size(), " (different --lora-targets?)");
  for (auto& [site, p] : live.pairs()) {
    auto it = saved.pairs().find(site);
    VEIL_CHECK_ARG(it != saved.pairs().end(), "checkpoint adapter lacks a projection this run trains");
    p.a.copy_(it->second.a);
    p.b.copy_(it->second.b);
  }
}

void write_plot(const fs::path& out, const std::vector<double>& steps, const std::vector<double>& losses,
                const std::vector<double>& val_steps, const std::vector<double>& val_losses) {
  std::vector<util::Series> series{{"train loss", steps, losses}};
  if (!val_steps.empty()) series.push_back({"validation loss", val_steps, val_losses});
  util::write_file_atomic(out / "loss.svg", util::line_chart_svg("LoRA fine-tuning", series, "optimizer step", "loss"));
}

}  // namespace

FinetuneResult run_finetune(const FinetuneConfig& cfg) {
  cfg.validate();
  const auto t_start = std::chrono::steady_clock::now();
  fs::create_directories(cfg.out);

  // The design's session: model, adapter, parties.
  auto session = open_design(cfg);
  auto& m = session->model();
  fs::path tok_path = cfg.tokenizer;
  if (tok_path.empty()) {
    VEIL_CHECK_ARG(fs::is_directory(cfg.model), "--tokenizer is required when --model is a file");
    tok_path = cfg.model;
  }
  auto tok = tokenizer::load_tokenizer(tok_path);
  VEIL_CHECK_ARG(tok->vocab_size() <= m.config().vocab_size, "tokenizer has ", tok->vocab_size(),
                 " tokens but the model only ", m.config().vocab_size);
  auto lora = session->adapters();

  // Data.
  data::DatasetOptions dopt;
  dopt.max_examples = static_cast<std::size_t>(cfg.max_examples);
  auto train_set = data::load_dataset(cfg.data, *tok, dopt);
  data::RowOptions ropt;
  ropt.seq_len = cfg.seq_len;
  if (cfg.layout) ropt.layout = *cfg.layout == "pack" ? data::Layout::kPack : data::Layout::kPad;
  const auto context = m.config().max_position_embeddings;
  VEIL_CHECK_ARG(context <= 0 || cfg.seq_len <= context, "--seq-len ", cfg.seq_len, " is longer than the model's context (",
                 context, " positions: max_position_embeddings in its config.json)");
  auto rows = data::make_rows(train_set, *tok, ropt);
  VEIL_CHECK_ARG(rows.num_rows() > 0, cfg.data.string(), ": no training rows: ", train_set.examples.size(),
                 " examples (", train_set.num_tokens, " tokens) give no row of --seq-len ", cfg.seq_len,
                 " tokens (a smaller --seq-len, or --layout pad)");
  data::TokenRows val_rows;
  if (!cfg.val_data.empty()) {
    val_rows = data::make_rows(data::load_dataset(cfg.val_data, *tok, dopt), *tok, ropt);
  } else if (cfg.val_fraction > 0 && rows.num_rows() >= 10) {
    auto n_val = std::max<std::int64_t>(1, static_cast<std::int64_t>(rows.num_rows() * cfg.val_fraction));
    val_rows = slice_rows(rows, rows.num_rows() - n_val, rows.num_rows());
    rows = slice_rows(rows, 0, rows.num_rows() - n_val);
  }
  auto val_batches = all_batches(val_rows, cfg.batch_size);

  data::LoaderOptions lopt;
  lopt.batch_size = cfg.batch_size;
  lopt.epochs = cfg.epochs;
  lopt.seed = cfg.seed;
  data::DataLoader loader(std::move(rows), lopt);
  OptimConfig optim = cfg.optim;
  const auto steps_from_data = (loader.total_batches() + cfg.grad_accum - 1) / cfg.grad_accum;
  optim.total_steps = cfg.max_steps > 0 ? cfg.max_steps : steps_from_data;
  if (cfg.max_steps > steps_from_data)
    std::fprintf(stderr,
                 "veil: note: --max-steps %lld but the data gives %lld steps (%lld batches over %lld epochs, "
                 "--grad-accum %lld); the run stops when the data runs out: raise --epochs to reach --max-steps\n",
                 static_cast<long long>(cfg.max_steps), static_cast<long long>(steps_from_data),
                 static_cast<long long>(loader.total_batches()), static_cast<long long>(cfg.epochs),
                 static_cast<long long>(cfg.grad_accum));
  Trainer trainer(m, session->trainable(), optim);

  // Resume.
  const auto ckpt_root = cfg.out / "checkpoints";
  std::vector<double> steps, losses, val_steps, val_losses;
  FinetuneResult res;
  if (cfg.resume && fs::exists(ckpt_root / "latest")) {
    auto dir = ckpt_root / util::read_file(ckpt_root / "latest");
    auto state = json::parse(util::read_file(dir / "trainer_state.json"), nullptr, false);
    VEIL_CHECK_ARG(!state.is_discarded(), dir.string(), "/trainer_state.json is not valid JSON");
    copy_adapter_into(*lora, *lora::load_peft_adapter(dir, m.config()));
    trainer.load_state(dir);
    session->adapters_restored();
    loader.restore(state.at("loader").get<data::LoaderState>());
    res.first_loss = state.value("first_loss", 0.0);
    steps = state.value("steps", std::vector<double>{});
    losses = state.value("losses", std::vector<double>{});
    val_steps = state.value("val_steps", std::vector<double>{});
    val_losses = state.value("val_losses", std::vector<double>{});
    if (state.contains("val_loss_before")) res.val_loss_before = state["val_loss_before"].get<double>();
    std::fprintf(stderr, "veil: resumed from %s at step %lld\n", dir.string().c_str(),
                 static_cast<long long>(trainer.steps_done()));
  } else {
    if (cfg.resume)
      std::fprintf(stderr, "veil: --resume: no checkpoint in %s (no 'latest' file); starting from step 0\n",
                   ckpt_root.string().c_str());
    if (!val_batches.empty()) res.val_loss_before = session->evaluate(val_batches).loss;
  }

  // Metrics log: a resumed run keeps the lines of the steps it keeps.
  std::ofstream metrics(cfg.out / "metrics.jsonl", trainer.steps_done() > 0 ? std::ios::app : std::ios::trunc);
  auto log = [&](const json& j) { metrics << j.dump() << '\n' << std::flush; };
  if (trainer.steps_done() == 0 && res.val_loss_before)
    log({{"step", 0}, {"eval_loss", *res.val_loss_before}, {"eval_ppl", std::exp(*res.val_loss_before)}});

  auto save_checkpoint = [&] {
    session->sync();
    char name_buf[32];
    std::snprintf(name_buf, sizeof name_buf, "step-%06lld", static_cast<long long>(trainer.steps_done()));
    const std::string name = name_buf;
    auto staged = ckpt_root / (".tmp-" + name);
    fs::remove_all(staged);
    lora::save_peft_adapter(staged, m.config(), *lora, cfg.model.string());
    trainer.save_state(staged);
    json state = {{"step", trainer.steps_done()}, {"loader", loader.state()},  {"first_loss", res.first_loss},
                  {"steps", steps},              {"losses", losses},        {"val_steps", val_steps},
                  {"val_losses", val_losses}};
    if (res.val_loss_before) state["val_loss_before"] = *res.val_loss_before;
    util::write_file_atomic(staged / "trainer_state.json", state.dump());
    util::replace_directory(staged, ckpt_root / name);
    util::write_file_atomic(ckpt_root / "latest", name);
  };

  // Train.
  util::Progress progress("finetune", optim.total_steps, "tok", cfg.progress);
  progress.advance(trainer.steps_done(), 0);
  std::int64_t tokens = 0;
  const auto t_train = std::chrono::steady_clock::now();
  while (trainer.steps_done() < optim.total_steps) {
    std::vector<MicroBatch> micro;
    while (static_cast<std::int64_t>(micro.size()) < cfg.grad_accum) {
      auto b = loader.next();
      if (!b) break;
      micro.push_back({b->input_ids, b->labels});
    }
    if (micro.empty()) break;
    auto s = session->step(trainer, micro);
    tokens += s.tokens;
    if (trainer.steps_done() == 1) res.first_loss = s.loss;
    steps.push_back(static_cast<double>(trainer.steps_done()));
    losses.push_back(s.loss);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
    log({{"step", trainer.steps_done()}, {"loss", s.loss},    {"lr", s.lr},
         {"grad_norm", s.grad_norm},      {"tokens", s.tokens}, {"tok_per_s", secs > 0 ? tokens / secs : 0.0},
         {"elapsed_s", secs}});
    res.final_loss = s.loss;
    progress.advance(1, s.tokens, util::cat("loss ", std::to_string(s.loss).substr(0, 6)));
    const bool last = trainer.steps_done() >= optim.total_steps;
    if (!val_batches.empty() && cfg.eval_every > 0 && trainer.steps_done() % cfg.eval_every == 0 && !last) {
      auto e = session->evaluate(val_batches);
      val_steps.push_back(static_cast<double>(trainer.steps_done()));
      val_losses.push_back(e.loss);
      log({{"step", trainer.steps_done()}, {"eval_loss", e.loss}, {"eval_ppl", e.perplexity}});
    }
    if (cfg.save_every > 0 && trainer.steps_done() % cfg.save_every == 0 && !last) save_checkpoint();
  }
  progress.finish();
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();

  if (!val_batches.empty()) {
    auto e = session->evaluate(val_batches);
    res.val_loss_after = e.loss;
    val_steps.push_back(static_cast<double>(trainer.steps_done()));
    val_losses.push_back(e.loss);
    log({{"step", trainer.steps_done()}, {"eval_loss", e.loss}, {"eval_ppl", e.perplexity}});
  }
  save_checkpoint();
  lora::save_peft_adapter(cfg.out, m.config(), *lora, cfg.model.string());
  write_plot(cfg.out, steps, losses, val_steps, val_losses);

  res.steps = trainer.steps_done();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  res.tokens_per_second = train_secs > 0 ? static_cast<double>(tokens) / train_secs : 0.0;
  res.summary = {{"design", cfg.design},
                 {"model", cfg.model.string()},
                 {"data", cfg.data.string()},
                 {"steps", res.steps},
                 {"first_loss", res.first_loss},
                 {"final_loss", res.final_loss},
                 {"train_tokens_per_s", res.tokens_per_second},
                 {"seconds", res.seconds},
                 {"lora_parameters", lora->num_parameters()},
                 {"base_parameters", m.config().num_parameters()}};
  if (res.val_loss_before) res.summary["val_loss_before"] = *res.val_loss_before;
  if (res.val_loss_after) res.summary["val_loss_after"] = *res.val_loss_after;
  session->sync();
  if (auto r = session->report(); !r.empty()) res.summary["design_report"] = r;
  res.cost = session->cost();
  res.summary["design_cost"] = res.cost.to_json();
  util::write_file_atomic(cfg.out / "summary.json", res.summary.dump(2) + "\n");
  return res;
}

}  // namespace veil::train
