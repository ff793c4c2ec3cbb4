// veil compare (formerly `veil evaluate`, kept as an alias that prints a notice; main.cpp): the
// design matrix (utility, attacks, cost) on one model and dataset; writes report.json and
// report.html into --out. (`veil eval` is the other command: one model on held-out data.)
#include <cstdio>

#include "command.h"
#include "option_lists.h"
#include "veil/eval/evaluate.h"
#include "veil/train/finetune.h"

namespace veil::cli {
Action add_compare(CLI::App& app, const CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "compare", "run designs side by side: utility, attacks on what each untrusted party saw, cost; writes report.json/.html");
  cmd->alias("evaluate");  // the old name; main.cpp prints a notice when it is used
  auto c = std::make_shared<eval::EvaluateConfig>();
  auto designs = std::make_shared<std::string>(std::string("plain,") + eval::kUnprotectedSplit);
  auto enhancements = std::make_shared<std::string>();
  auto attacks = std::make_shared<std::string>("nn,learned,gradient,bisr");
  std::string available;
  for (const auto& d : train::available_designs()) available += (available.empty() ? "" : ", ") + d;
  cmd->add_option("--model", c->model, "HF model directory (the public base model)")->required()->envname("VEIL_MODEL");
  cmd->add_option("--data", c->data, "private fine-tuning data (.jsonl or text)")->required();
  cmd->add_option("--out", c->out, "output directory")->required();
  cmd->add_option("--designs", *designs,
                  "comma-separated designs (available: " + available + ", and " + eval::kUnprotectedSplit + ")");
  cmd->add_option("--enhancements", *enhancements, "comma-separated design:key=value options passed to that design");
  cmd->add_option("--attacks", *attacks, "comma-separated: nn, learned, gradient, bisr");
  cmd->add_option("--public-text", c->public_text, "public text for learned inversion (default: found near --data)");
  cmd->add_option("--secrets", c->secrets, "secrets.jsonl for secret-field recovery (default: found near --data)");
  cmd->add_option("--steps", c->steps, "optimizer steps per design")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--batch-size", c->batch_size, "rows per step")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--seq-len", c->seq_len, "tokens per row")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-examples", c->max_examples, "use at most this many examples (0: all)");
  cmd->add_option("--cut-layer", c->cut_layer, "split point: the server receives the input of this block");
  cmd->add_option("--attack-records", c->attack_records, "private records attacked per design")->check(CLI::Range(1, 4096));
  cmd->add_option("--attack-tokens", c->attack_tokens, "tokens per attacked record")->check(CLI::Range(2, 1 << 16));
  cmd->add_option("--learned-steps", c->learned_steps, "training steps of the learned inversion model")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gradient-steps", c->gradient_steps, "optimisation steps of gradient matching")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seed", c->seed, "seed for fine-tuning and attacks");
  return [c, designs, enhancements, attacks, &common] {
    c->designs = split_list(*designs, "--designs");
    c->enhancements = split_list(*enhancements, "--enhancements");
    c->attacks = split_list(*attacks, "--attacks");
    c->progress = !common.quiet;
    auto report = eval::run_evaluation(*c);
    for (const auto& cell : report["cells"]) {
      std::fprintf(stderr, "veil: %-18s %s", cell.value("design", "").c_str(), cell.value("status", "").c_str());
      if (cell.contains("privacy") && cell["privacy"].contains("best_token_accuracy"))
        std::fprintf(stderr, "  val loss %.4f  best attack token accuracy %.1f%%",
                     cell["utility"]["val_loss"].is_number() ? cell["utility"]["val_loss"].get<double>() : 0.0,
                     100 * cell["privacy"]["best_token_accuracy"].get<double>());
      else if (cell.contains("message"))
        std::fprintf(stderr, "  %s", cell["message"].get<std::string>().c_str());
      std::fprintf(stderr, "\n");
    }
    std::fprintf(stderr, "veil: report written to %s/report.json and report.html\n", c->out.string().c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{55, add_compare};
}  // namespace

}  // namespace veil::cli
