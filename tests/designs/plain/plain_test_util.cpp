#include "designs/plain/plain_test_util.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "veil/lora/peft.h"
#include "veil/model/loader.h"

namespace veil::testing {
namespace fs = std::filesystem;

train::FinetuneConfig tiny_run(const fs::path& out) {
  train::FinetuneConfig c;
  c.model = fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";
  c.data = fs::path(VEIL_SOURCE_DIR) / "data/private/train/clinic_records.jsonl";
  c.out = out;
  c.seq_len = 32;
  c.batch_size = 2;
  c.grad_accum = 2;
  c.max_steps = 4;
  c.max_examples = 40;
  c.val_fraction = 0;
  c.optim.lr = 3e-3;
  c.progress = false;
  return c;
}

double adapter_max_diff(const fs::path& a, const fs::path& b) {
  auto cfg = model::read_model(fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny").config;
  auto pa = lora::load_peft_adapter(a, cfg)->parameters();
  auto pb = lora::load_peft_adapter(b, cfg)->parameters();
  if (pa.size() != pb.size() || pa.empty()) return 1e30;
  double d = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  return d;
}

double adapter_relative_l2(const fs::path& a, const fs::path& b) {
  auto cfg = model::read_model(fs::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny").config;
  auto pa = lora::load_peft_adapter(a, cfg)->parameters();
  auto pb = lora::load_peft_adapter(b, cfg)->parameters();
  if (pa.size() != pb.size() || pa.empty()) return 1e30;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    num += (pa[i] - pb[i]).to(at::kDouble).pow(2).sum().item<double>();
    den += pb[i].to(at::kDouble).pow(2).sum().item<double>();
  }
  return den > 0 ? std::sqrt(num / den) : 1e30;
}

}  // namespace veil::testing
