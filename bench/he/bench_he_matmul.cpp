// Encrypted-activation x clear-weight matmul (veil::he) against plaintext fp32 at::mm of the
// same shape, side by side in one run. Prints per shape the medians of encrypt / evaluate /
// decrypt, the ratio evaluate / plaintext, bytes per value up and down, and the error against
// fp32; ends with one JSON line of all figures.
//
//   bench_he_matmul [--quick] [--reps N]
//   bench_he_matmul --kernels   the kernels alone, fast path against its fallback in one run (best
//                               of 5): NTT forward/inverse (IFMA vs scalar) and the negacyclic
//                               product, the error sampler, the GEMM 512x2048x8192 at 7 limbs
//                               (AMX vs VNNI, he_threads() threads)
// Threads: VEIL_HE_THREADS (default: all cores) for both the HE code and at::mm.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "he/util/gemm.h"
#include "he/util/ntt.h"
#include "he/util/parallel.h"
#include "he/util/prng.h"
#include "veil/he/matmul.h"
#include "veil/model/presets.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Shape {
  const char* name;
  size_t m, k, n;
  int reps;
};

struct Result {
  std::string name;
  size_t m, k, n;
  std::string layout;
  double plain_s, encrypt_s, evaluate_s, decrypt_s, plan_s, ratio, up_bpv, down_bpv, rel_err;
};

// Best of 5 of the mean time of `iters` calls.
template <typename F>
double best_time(int iters, F&& f) {
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) f(i);
    best = std::min(best, seconds_since(t0) / iters);
  }
  return best;
}

int kernels() {
  using namespace veil::he::detail;
  const size_t n = 2048;
  std::mt19937_64 rng(7);
  NttTables t(n, crt_primes(1)[0]);
  std::vector<uint64_t> x(n);
  for (auto& v : x) v = rng() % t.modulus();
  const double fwd = best_time(2000, [&](int) { t.forward(x.data()); });
  const double fwd_s = best_time(2000, [&](int) { t.forward_scalar(x.data()); });
  const double inv = best_time(2000, [&](int) { t.inverse(x.data()); });
  const double inv_s = best_time(2000, [&](int) { t.inverse_scalar(x.data()); });
  NegacyclicMultiplier mul(n);
  std::vector<uint64_t> a(n), a_ntt(2 * n), c(n), scratch(2 * n), s_ntt;
  std::vector<int8_t> s(n), e(n);
  for (auto& v : a) v = rng();
  for (auto& v : s) v = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
  mul.transform_small(s, s_ntt);
  mul.transform(a.data(), a_ntt.data());
  const double prod = best_time(1000, [&](int) { mul.multiply(a.data(), s_ntt, c.data(), scratch.data()); });
  const double prod_t = best_time(1000, [&](int) { mul.multiply_transformed(a_ntt.data(), s_ntt, c.data(), scratch.data()); });
  Seed seed{};
  const double sample = best_time(1000, [&](int i) {
    Prg prg(seed, Domain::kTest, static_cast<uint64_t>(i));
    sample_error(prg, e);
  });
  std::printf("N = %zu, %s NTT:\n  forward %.2f us (scalar %.2f us), inverse %.2f us (scalar %.2f us)\n", n,
              t.vectorized() ? "IFMA" : "scalar (no IFMA)", fwd * 1e6, fwd_s * 1e6, inv * 1e6, inv_s * 1e6);
  std::printf("  negacyclic product %.2f us, with a cached transformed operand %.2f us\n", prod * 1e6, prod_t * 1e6);
  std::printf("  sample_error (CBD(21), N coefficients) %.2f us\n", sample * 1e6);
  const size_t rows = 512, k = 2048, cols = 8192;
  std::vector<uint64_t> bt(k * rows), y(cols * rows);
  for (auto& v : bt) v = rng() & ((uint64_t{1} << 54) - 1);
  std::vector<int32_t> w(k * cols);
  for (auto& v : w) v = static_cast<int32_t>(rng() % 255) - 127;
  const int threads = he_threads();
  for (GemmKernel kernel : {GemmKernel::kVnni, GemmKernel::kAmx}) {
    const PackedWeights pw = pack_weights(w.data(), k, cols, 7, kernel);
    const double g = best_time(1, [&](int) { gemm_mod2k(bt.data(), rows, pw, y.data(), threads); });
    const bool ran = kernel == GemmKernel::kAmx ? gemm_has_amx() : gemm_has_vnni();
    std::printf("GEMM %zux%zux%zu, 7 limbs, %d threads, %s%s: %.3f s (%.1f G coefficient MAC/s)\n", rows, k, cols,
                threads, kernel == GemmKernel::kAmx ? "AMX" : "VNNI", ran ? "" : " (unavailable: portable)", g,
                static_cast<double>(rows * k * cols) / g / 1e9);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int reps_override = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--kernels")) return kernels();
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps_override = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--reps N] | --kernels\n", argv[0]);
      return 2;
    }
  }
  const int threads = veil::he::detail::he_threads();
  at::set_num_threads(threads);
  // Weight shapes of the published models (veil/model/presets.h), 2048 tokens a batch.
  const auto gpt2 = veil::model::gpt2_small();
  const auto llama = veil::model::llama3_2_1b();
  const auto g = static_cast<size_t>(gpt2.hidden_size), h = static_cast<size_t>(llama.hidden_size),
             f = static_cast<size_t>(llama.intermediate_size);
  std::vector<Shape> shapes = {{"gpt2_attn_proj", 2048, g, g, 5},
                               {"llama1b_mlp_up", 2048, h, f, 2},
                               {"llama1b_mlp_down", 2048, f, h, 2},
                               {"decode_1x2048x2048", 1, h, h, 5}};
  if (quick) shapes = {{"gpt2_attn_proj", 2048, g, g, 2}, {"decode_1x2048x2048", 1, h, h, 2}};
  std::printf("veil::he encrypted matmul vs fp32 at::mm  (threads=%d, vnni=%d)\n", threads,
              veil::he::detail::gemm_has_vnni() ? 1 : 0);
  std::printf("%-20s %-7s %9s %9s %9s %9s %9s %7s %6s %6s %9s\n", "shape", "layout", "plain_s", "encrypt_s",
              "eval_s", "decrypt_s", "plan_s", "ratio", "up_B", "down_B", "rel_err");
  std::vector<Result> results;
  std::mt19937_64 rng(12345);  // benchmark data only
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    const int reps = reps_override > 0 ? reps_override : s.reps;
    std::vector<float> x(s.m * s.k), w(s.k * s.n);
    for (auto& v : x) v = nd(rng);
    for (auto& v : w) v = 0.02f * nd(rng);
    // Plaintext baseline.
    at::Tensor tx = at::from_blob(x.data(), {(int64_t)s.m, (int64_t)s.k}, at::kFloat);
    at::Tensor tw = at::from_blob(w.data(), {(int64_t)s.k, (int64_t)s.n}, at::kFloat);
    at::Tensor ty = at::mm(tx, tw);  // warm-up
    std::vector<double> plain;
    for (int r = 0; r < std::max(reps, 3); ++r) {
      auto t0 = Clock::now();
      ty = at::mm(tx, tw);
      plain.push_back(seconds_since(t0));
    }
    // Encrypted.
    const auto parms = veil::he::Parameters::for_matmul(8, 8, s.k);
    veil::he::HeMatmulServer server(parms);
    veil::he::HeMatmulClient client(parms);
    auto t0 = Clock::now();
    const uint64_t id = server.add_weights(w, s.k, s.n);
    const auto layout = veil::he::choose_layout(parms, s.m);
    client.add_plan_info(server.plan_info(id, layout));
    const double plan_s = seconds_since(t0);
    std::vector<double> enc, ev, dec;
    std::vector<float> y;
    size_t up_bytes = 0, down_bytes = 0;
    for (int r = 0; r < reps; ++r) {
      std::unique_ptr<veil::he::HeMatmulClient::Upload> pending;
      t0 = Clock::now();
      auto up = client.encrypt(x, s.m, s.k, pending);
      enc.push_back(seconds_since(t0));
      t0 = Clock::now();
      auto down = server.multiply(up, id);
      ev.push_back(seconds_since(t0));
      t0 = Clock::now();
      y = client.decrypt(down, *pending);
      dec.push_back(seconds_since(t0));
      up_bytes = up.size();
      down_bytes = down.size();
    }
    double num = 0, den = 0;
    const float* yp = ty.data_ptr<float>();
    for (size_t i = 0; i < y.size(); ++i) {
      num += (y[i] - yp[i]) * (double)(y[i] - yp[i]);
      den += (double)yp[i] * yp[i];
    }
    Result res{s.name, s.m, s.k, s.n, layout == veil::he::Layout::kRows ? "rows" : "columns", median(plain),
               median(enc), median(ev), median(dec), plan_s, 0, (double)up_bytes / (s.m * s.k),
               (double)down_bytes / (s.m * s.n), std::sqrt(num / std::max(den, 1e-30))};
    res.ratio = res.evaluate_s / res.plain_s;
    results.push_back(res);
    std::printf("%-20s %-7s %9.4f %9.4f %9.4f %9.4f %9.3f %7.2f %6.3f %6.3f %9.2e\n", res.name.c_str(),
                res.layout.c_str(), res.plain_s, res.encrypt_s, res.evaluate_s, res.decrypt_s, res.plan_s, res.ratio,
                res.up_bpv, res.down_bpv, res.rel_err);
    std::fflush(stdout);
  }
  std::printf("{\"bench\":\"he_matmul\",\"threads\":%d,\"vnni\":%s,\"input_bits\":8,\"weight_bits\":8,\"shapes\":[",
              threads, veil::he::detail::gemm_has_vnni() ? "true" : "false");
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    std::printf(
        "%s{\"name\":\"%s\",\"m\":%zu,\"k\":%zu,\"n\":%zu,\"layout\":\"%s\",\"plain_s\":%.5f,\"encrypt_s\":%.5f,"
        "\"evaluate_s\":%.5f,\"decrypt_s\":%.5f,\"plan_s\":%.4f,\"evaluate_over_plain\":%.3f,\"up_bytes_per_value\":%.4f,"
        "\"down_bytes_per_value\":%.4f,\"rel_err_vs_fp32\":%.3e}",
        i ? "," : "", r.name.c_str(), r.m, r.k, r.n, r.layout.c_str(), r.plain_s, r.encrypt_s, r.evaluate_s,
        r.decrypt_s, r.plan_s, r.ratio, r.up_bpv, r.down_bpv, r.rel_err);
  }
  std::printf("]}\n");
  return 0;
}
