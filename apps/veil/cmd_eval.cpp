// veil eval: loss and perplexity on a dataset, multiple-choice accuracy on a task.
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model_options.h"
#include "veil/data/batch.h"
#include "veil/data/example.h"
#include "veil/data/multiple_choice.h"
#include "veil/train/trainer.h"
#include "veil/util/progress.h"

namespace veil::cli {
namespace {

// Sum of log p(choice tokens | context) for each choice, one forward pass per choice.
std::vector<std::vector<double>> choice_logprobs(model::CausalLM& m, const data::McEncoded& enc) {
  std::vector<std::vector<double>> out;
  for (const auto& choice : enc.choice_ids) {
    std::vector<std::int64_t> ids(enc.context_ids.begin(), enc.context_ids.end());
    ids.insert(ids.end(), choice.begin(), choice.end());
    const auto max = m.config().max_position_embeddings;
    const auto keep = std::min<std::int64_t>(static_cast<std::int64_t>(ids.size()), max + 1);
    std::vector<std::int64_t> window(ids.end() - keep, ids.end());  // left-truncate like the harness
    auto input = at::tensor(std::vector<std::int64_t>(window.begin(), window.end() - 1), at::kLong).unsqueeze(0);
    auto logp = m.forward(input)[0].log_softmax(-1);
    std::vector<double> lp;
    const auto n = static_cast<std::int64_t>(choice.size());
    for (std::int64_t k = 0; k < n; ++k) {
      auto pos = static_cast<std::int64_t>(window.size()) - 1 - n + k;  // position predicting choice[k]
      lp.push_back(logp[pos][choice[k]].item<double>());
    }
    out.push_back(std::move(lp));
  }
  return out;
}

}  // namespace

Action add_eval(CLI::App& app, const CommonOptions& common) {
  auto* cmd = app.add_subcommand("eval", "evaluation loss/perplexity (--data) and multiple-choice accuracy (--task)");
  struct Opts {
    std::string model, tokenizer, adapter, data, task;
    std::int64_t seq_len = 256, batch_size = 8, max_examples = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF model directory or llama2.c .bin")->required()->envname("VEIL_MODEL");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer (default: the model directory's)");
  cmd->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory to apply");
  cmd->add_option("--data", o->data, ".jsonl or text for loss and perplexity");
  cmd->add_option("--task", o->task, "multiple-choice JSONL {\"context\",\"choices\",\"label\"}");
  cmd->add_option("--seq-len", o->seq_len, "tokens per row")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--batch-size", o->batch_size, "rows per batch")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--max-examples", o->max_examples, "use at most this many examples/items (0: all)");
  return [o, &common] {
    VEIL_CHECK_ARG(!o->data.empty() || !o->task.empty(), "give --data and/or --task");
    auto tok = tokenizer_for(o->model, o->tokenizer);
    auto m = model_with_adapter(o->model, o->adapter);
    at::NoGradGuard no_grad;
    nlohmann::json out = {{"model", o->model}};
    if (!o->adapter.empty()) out["adapter"] = o->adapter;
    if (!o->data.empty()) {
      data::DatasetOptions dopt;
      dopt.max_examples = static_cast<std::size_t>(o->max_examples);
      data::RowOptions ropt;
      ropt.seq_len = std::min(o->seq_len, m.model->config().max_position_embeddings);
      ropt.pad_last = true;
      auto rows = data::make_rows(data::load_dataset(o->data, *tok, dopt), *tok, ropt);
      std::vector<train::MicroBatch> batches;
      for (std::int64_t r = 0; r < rows.num_rows(); r += o->batch_size) {
        std::vector<std::int64_t> idx;
        for (auto k = r; k < std::min(rows.num_rows(), r + o->batch_size); ++k) idx.push_back(k);
        auto b = data::make_batch(rows, idx);
        batches.push_back({b.input_ids, b.labels});
      }
      auto s = train::evaluate_loss(*m.model, batches);
      out["data"] = o->data;
      out["loss"] = s.loss;
      out["perplexity"] = s.perplexity;
      out["target_tokens"] = s.targets;
    }
    if (!o->task.empty()) {
      auto items = data::load_mc_tasks(o->task, static_cast<std::size_t>(o->max_examples));
      std::int64_t correct = 0, correct_norm = 0;
      util::Progress progress("eval", static_cast<std::int64_t>(items.size()), "item", !common.quiet);
      for (const auto& item : items) {
        auto score = data::score_mc(choice_logprobs(*m.model, data::encode_mc(item, *tok)), item);
        correct += score.correct;
        correct_norm += score.correct_norm;
        progress.advance(1, 1);
      }
      progress.finish();
      const double n = static_cast<double>(items.size());
      out["task"] = o->task;
      out["items"] = items.size();
      out["acc"] = correct / n;
      out["acc_norm"] = correct_norm / n;
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{50, add_eval};
}  // namespace

}  // namespace veil::cli
