// Denormal floats (|x| < 2^-126) make x86 arithmetic take slow microcode paths. A LoRA training
// step produces them in its backward pass (tiny gradients times tiny activations), and measured
// here an OpenBLAS SGEMM whose input holds denormals ran 100-200x slower (16 ms -> 1.5-2.4 s for
// [256, 2048] x [2048, 2048]), ATen's elementwise ops 8-20x slower. flush_denormals() sets
// flush-to-zero and denormals-are-zero (x86 MXCSR FTZ|DAZ, via ATen) on the calling thread and on
// ATen's OpenMP threads; OpenBLAS hands its caller's MXCSR to its own threads with every call.
// Threads created afterwards inherit the setting. The cost: values below 1.2e-38 become zero,
// which is what TensorFlow does by default on CPU and what torch.set_flush_denormal(True) does.
// VEIL_DENORMALS=keep leaves IEEE gradual underflow.
#pragma once

#include <string>

namespace veil::runtime {

// Applies the policy (call after configure_threads, from the thread that runs the model);
// returns what was applied: "flush (FTZ+DAZ)", "keep", or "keep (not supported on this CPU)".
std::string flush_denormals();

}  // namespace veil::runtime
