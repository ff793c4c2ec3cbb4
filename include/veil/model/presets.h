// Size presets: one function per published shape that only fixes numbers (torchtune style), and a
// lookup by name for the CLI (`veil init --preset NAME`), the benches and the tests. The numbers
// are the Hugging Face config.json values of the named model (ids of the special tokens included),
// so a checkpoint written from a preset is shaped and configured like the real one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "veil/model/config.h"

namespace veil::model {

// GPT-2 (openai-community/gpt2, gpt2-medium, gpt2-xl): vocab 50257, context 1024, tied head.
[[nodiscard]] ModelConfig gpt2_small();   // 12 layers, 768 wide, 12 heads: 124 M parameters
[[nodiscard]] ModelConfig gpt2_medium();  // 24 layers, 1024 wide, 16 heads: 355 M
[[nodiscard]] ModelConfig gpt2_xl();      // 48 layers, 1600 wide, 25 heads: 1.56 B
// Llama 3.2 (meta-llama/Llama-3.2-1B, -3B): vocab 128256, llama3 RoPE scaling (factor 32),
// tied head, bos 128000, eos 128001.
[[nodiscard]] ModelConfig llama3_2_1b();  // 16 layers, 2048 wide, 32 heads (8 kv), mlp 8192: 1.24 B
[[nodiscard]] ModelConfig llama3_2_3b();  // 28 layers, 3072 wide, 24 heads (8 kv), mlp 8192: 3.21 B
// Test-sized models with the real vocabularies (so the real tokenizers fit): a few MB.
[[nodiscard]] ModelConfig tiny_llama();  // Llama-3.2 config, 2 layers, 32 wide: 4.1 M parameters
[[nodiscard]] ModelConfig tiny_gpt2();   // GPT-2 config, 2 layers, 32 wide: 1.6 M parameters

// The preset called `name` ("gpt2-small", "llama-3.2-1b", ...; see preset_names()).
// Throws std::invalid_argument naming `name` and listing the known presets.
[[nodiscard]] ModelConfig preset(std::string_view name);
[[nodiscard]] std::vector<std::string> preset_names();

}  // namespace veil::model
