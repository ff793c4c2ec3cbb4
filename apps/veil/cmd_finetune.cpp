// veil finetune: LoRA fine-tuning; writes the PEFT adapter into --out.
#include <cstdio>
#include <stdexcept>

#include "command.h"
#include "option_groups.h"
#include "option_lists.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/runtime/threads.h"
#include "veil/train/finetune.h"

namespace veil::cli {

Action add_finetune(CLI::App& app, const CommonOptions& common) {
  auto* cmd = app.add_subcommand("finetune", "LoRA fine-tuning; writes a PEFT adapter, metrics.jsonl and loss.svg to --out");
  auto c = std::make_shared<train::FinetuneConfig>();
  auto targets = std::make_shared<std::string>("all-linear");
  auto layout = std::make_shared<std::string>();
  cmd->add_option("--model", c->model, "HF model directory or llama2.c .bin (required unless --enclave)")
      ->envname("VEIL_MODEL");
  cmd->add_option("--tokenizer", c->tokenizer, "tokenizer (default: the model directory's)");
  cmd->add_option("--data", c->data, ".jsonl ({\"text\"} or {\"prompt\",\"completion\"}) or plain text")->required();
  cmd->add_option("--val-data", c->val_data, "validation set (default: hold out --val-fraction of the rows)");
  cmd->add_option("--out", c->out, "output directory")->required();
  auto opts = std::make_shared<std::vector<std::string>>();
  auto workers = std::make_shared<std::string>();
  std::string designs;
  for (const auto& d : train::available_designs()) designs += (designs.empty() ? "" : ", ") + d;
  cmd->add_option("--design", c->design, "privacy design: " + designs);
  cmd->add_option("--opt", *opts, "design option key=value (repeatable; see docs/designs/)");
  cmd->add_option("--workers", *workers, "worker addresses host:port,host:port (layers split in contiguous ranges)");
  cmd->add_option("--enclave", c->parties.enclave,
                  "obfuscatune: fine-tune inside this attested enclave, host:port (no --model; --opt measurement=HEX)");
  auto enclave_opts = std::make_shared<std::map<std::string, std::string>>();  // flags standing for --opt keys
  cmd->add_flag_function("--allow-simulated", [enclave_opts](std::int64_t n) { if (n > 0) (*enclave_opts)["allow-simulated"] = "1"; },
                         "--enclave: accept a SIMULATED attestation report (loud warning; docs/tee.md)");
  cmd->add_option_function<std::string>("--attestation-key", [enclave_opts](const std::string& v) { (*enclave_opts)["attestation-key"] = v; },
                                        "--enclave: the simulated attester's pinned public key, hex or file");
  cmd->add_option_function<std::string>("--session-key", [enclave_opts](const std::string& v) { (*enclave_opts)["session-key"] = v; },
                                        "--enclave: the data owner's session key (PEM; created when missing)");
  add_tls_options(*cmd, TlsTargets<std::filesystem::path>{&c->parties.tls_cert, &c->parties.tls_key, &c->parties.tls_ca, &c->parties.tls_server_name, &c->parties.insecure},
                  "the workers and the enclave");
  cmd->add_option("--audit-dir", c->parties.audit_dir,
                  "record what the in-process worker received and sent (for veil compare; no --workers)");
  cmd->add_option("--lora-r", c->lora.r, "LoRA rank")->check(CLI::Range(1, 4096));
  cmd->add_option("--lora-alpha", c->lora.alpha, "LoRA alpha (scaling = alpha / r)");
  cmd->add_option("--lora-dropout", c->lora.dropout, "dropout on the LoRA input")->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--lora-targets", *targets, "comma-separated module names, or all-linear");
  cmd->add_option("--lr", c->optim.lr, "peak learning rate");
  cmd->add_option("--weight-decay", c->optim.weight_decay, "AdamW weight decay");
  cmd->add_option("--warmup", c->optim.warmup_steps, "linear warmup steps");
  cmd->add_option("--max-grad-norm", c->optim.max_grad_norm, "gradient clipping (<= 0: off)");
  cmd->add_option("--batch-size", c->batch_size, "rows per micro-batch")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--grad-accum", c->grad_accum, "micro-batches per optimizer step")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--seq-len", c->seq_len, "tokens per row")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--epochs", c->epochs, "passes over the data")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-steps", c->max_steps, "stop after this many optimizer steps (0: epochs decide)");
  cmd->add_option("--eval-every", c->eval_every, "validation every N steps (0: at the end)");
  cmd->add_option("--save-every", c->save_every, "checkpoint every N steps (0: at the end)");
  cmd->add_option("--max-examples", c->max_examples, "use at most this many examples (0: all)");
  cmd->add_option("--val-fraction", c->val_fraction, "rows held out for validation when no --val-data");
  cmd->add_option("--layout", *layout, "pack | pad (default: pack for text, pad for prompt/completion)");
  cmd->add_option("--seed", c->seed, "seed for adapter initialisation and data order");
  cmd->add_flag("--resume", c->resume, "continue from --out/checkpoints/latest");
  return [c, targets, layout, opts, workers, enclave_opts, &common] {
    for (const auto& [k, v] : parse_key_values(*opts)) c->design_options[k] = v;
    if (!enclave_opts->empty() && c->parties.enclave.empty())
      throw std::invalid_argument("--allow-simulated, --attestation-key and --session-key need --enclave");
    for (const auto& [k, v] : *enclave_opts) c->design_options[k] = v;
    for (auto& w : split_list(*workers, "--workers")) c->parties.workers.push_back(std::move(w));
    c->lora.target_modules = split_list(*targets, "--lora-targets");
    if (!layout->empty()) c->layout = *layout;
    c->progress = !common.quiet;
    std::fprintf(stderr, "veil: finetune design=%s threads: %s\n", c->design.c_str(),
                 runtime::describe_threads().c_str());
    // Through an enclave the data owner holds no model: the enclave runs the recipe (obfuscatune).
    auto r = c->parties.enclave.empty() ? train::run_finetune(*c) : designs::obfuscatune::finetune_through_enclave(*c);
    std::fprintf(stderr, "veil: %lld steps, loss %.4f -> %.4f", static_cast<long long>(r.steps), r.first_loss,
                 r.final_loss);
    if (r.val_loss_before && r.val_loss_after)
      std::fprintf(stderr, ", validation loss %.4f -> %.4f", *r.val_loss_before, *r.val_loss_after);
    std::fprintf(stderr, ", %.0f tok/s, %.1f s\nveil: adapter written to %s\n", r.tokens_per_second, r.seconds,
                 c->out.string().c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{40, add_finetune};
}  // namespace

}  // namespace veil::cli
