// The noise option's exact samplers (discrete Gaussian and Laplace on a grid, from OpenSSL
// randomness) and its accountant, against formulas computed independently here.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "designs/guarded/accounting.h"
#include "designs/guarded/dp_noise.h"
#include "designs/guarded/harness.h"

namespace veil {
namespace {
using namespace designs::guarded;

// Moments of P(x) ∝ exp(-f(x)) over the integers, summed directly.
struct Moments {
  double p0 = 0, mean_abs = 0, var = 0;
};
Moments exact(const std::function<double(double)>& f) {
  double z = 0, a = 0, v = 0;
  for (int x = -2000; x <= 2000; ++x) {
    const double w = std::exp(-f(x));
    z += w;
    a += w * std::abs(x);
    v += w * x * x;
  }
  return {1 / z, a / z, v / z};
}

void expect_matches(const std::vector<std::int64_t>& xs, const Moments& m, const std::string& what) {
  const double n = static_cast<double>(xs.size());
  double sum = 0, abs = 0, sq = 0, zeros = 0;
  for (auto x : xs) {
    sum += x;
    abs += std::abs(static_cast<double>(x));
    sq += static_cast<double>(x) * x;
    zeros += x == 0;
  }
  const double sd = std::sqrt(m.var);
  EXPECT_NEAR(sum / n, 0.0, 5 * sd / std::sqrt(n)) << what << " mean";
  EXPECT_NEAR(sq / n, m.var, 0.04 * m.var) << what << " variance";
  EXPECT_NEAR(abs / n, m.mean_abs, 0.02 * m.mean_abs) << what << " E|x|";
  EXPECT_NEAR(zeros / n, m.p0, 5 * std::sqrt(m.p0 * (1 - m.p0) / n)) << what << " P(0)";
}

TEST(DpNoise, DiscreteGaussianHasTheExactDistributionsMoments) {
  SecureBits bits;
  for (auto [num, den] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{9 * 1024, 1024}, {5, 2}, {64 * 64 * 1024 + 37, 1024}}) {
    const double s2 = static_cast<double>(num) / static_cast<double>(den);
    std::vector<std::int64_t> xs(60000);
    for (auto& x : xs) x = discrete_gaussian(bits, num, den);
    expect_matches(xs, exact([&](double x) { return x * x / (2 * s2); }), "discrete Gaussian s2=" + std::to_string(s2));
  }
}

TEST(DpNoise, DiscreteLaplaceHasTheExactDistributionsMoments) {
  SecureBits bits;
  for (std::int64_t t : {1, 5, 64}) {
    std::vector<std::int64_t> xs(60000);
    for (auto& x : xs) x = discrete_laplace(bits, t);
    expect_matches(xs, exact([&](double x) { return std::abs(x) / static_cast<double>(t); }),
                   "discrete Laplace t=" + std::to_string(t));
  }
}

TEST(DpNoise, NoisyActivationsLieOnTheGrid) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto x = at::randn({8, 16, 192}, gen) * 3;
  for (bool gaussian : {true, false}) {
    const auto g = grid_noise(gaussian, 0.3);
    EXPECT_EQ(g.grid, std::exp2(std::floor(std::log2(0.3 / 64))));
    EXPECT_NEAR(g.scale(), 0.3, 0.01 * 0.3);
    auto y = add_grid_noise(x, g);
    auto k = y.to(at::kDouble) / g.grid;
    EXPECT_TRUE(at::equal(k, at::round(k))) << "a value off the grid";
    auto noise = y.to(at::kDouble) - at::round(x.to(at::kDouble) / g.grid) * g.grid;
    const double sd = gaussian ? g.scale() : g.scale() * std::sqrt(2.0);
    EXPECT_NEAR(noise.std().item<double>(), sd, 0.03 * sd);
    EXPECT_NEAR(noise.mean().item<double>(), 0.0, 0.03 * sd);
  }
  // Values beyond the float32-exact grid are refused, not rounded silently.
  EXPECT_THROW((void)add_grid_noise(at::full({2}, 1e9), grid_noise(true, 0.3)), std::invalid_argument);
}

// Independent references: the exact (ε, δ) of the continuous Gaussian mechanism composed n times
// (μ-GDP, Dong–Roth–Su / Balle–Wang: a lower bound for any valid zCDP conversion) and Bun and
// Steinke's ε = ρ + 2·sqrt(ρ·log(1/δ)) (an upper bound the CKS conversion improves on).
double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double gaussian_exact_epsilon(double mu, double delta) {
  auto d = [&](double e) { return phi(-e / mu + mu / 2) - std::exp(e) * phi(-e / mu - mu / 2); };
  double lo = 0, hi = 200;
  for (int i = 0; i < 200; ++i) (d(0.5 * (lo + hi)) > delta ? lo : hi) = 0.5 * (lo + hi);
  return hi;
}

TEST(DpAccounting, ZcdpConversionAgainstReferenceValues) {
  // ρ = 0.5 (σ = Δ = 1, one release), δ = 1e-5: 4.72839 (the CKS bound minimised over α on a
  // fine grid by a separate script); Bun–Steinke 5.29853; exact Gaussian 4.37718.
  EXPECT_NEAR(zcdp_epsilon(0.5, 1e-5), 4.72839, 1e-3);
  EXPECT_NEAR(gaussian_exact_epsilon(1.0, 1e-5), 4.37718, 1e-3);
  for (auto [sigma, n] : std::vector<std::pair<double, double>>{{1.0, 1.0}, {4.0, 100.0}, {10.0, 1000.0}, {2.0, 10.0}}) {
    const double rho = n / (2 * sigma * sigma), eps = zcdp_epsilon(rho, 1e-5);
    EXPECT_GE(eps, gaussian_exact_epsilon(std::sqrt(n) / sigma, 1e-5)) << sigma << " " << n;
    EXPECT_LE(eps, rho + 2 * std::sqrt(rho * std::log(1e5))) << sigma << " " << n;
  }
  EXPECT_NEAR(zcdp_epsilon(3.125, 1e-5), 14.13055, 1e-3);  // σ = 4, 100 steps
}

TEST(DpAccounting, EpsilonIsPerExampleOverAllPositionsAndReleases) {
  SplitOptions o;
  o.noise = Noise::kGaussian;
  o.noise_scale = 2.0;
  o.clip = 1.0;
  const std::int64_t d = 192, T = 32, n = 3;
  auto j = noise_accounting(o, d, T, n);
  const auto g = grid_noise(true, 2.0);
  const double l2 = 2 * std::sqrt(double(T)) + g.grid * std::sqrt(double(T * d));
  EXPECT_DOUBLE_EQ(j.at("l2_sensitivity").get<double>(), l2);
  EXPECT_DOUBLE_EQ(j.at("rho").get<double>(), n * l2 * l2 / (2 * 4.0));
  EXPECT_DOUBLE_EQ(j.at("dp_epsilon").get<double>(), zcdp_epsilon(n * l2 * l2 / 8.0, 1e-5));
  // One token moves every later position: ε per example grows with the length, unlike the old
  // per-token figure (T = 1).
  EXPECT_GT(j.at("dp_epsilon").get<double>(), 3 * noise_accounting(o, d, 1, n).at("dp_epsilon").get<double>());
  o.noise = Noise::kLaplace;
  o.noise_scale = 0.5;
  j = noise_accounting(o, d, T, n);
  const double l1 = T * (2 * std::sqrt(double(d)) + grid_noise(false, 0.5).grid * d);
  EXPECT_DOUBLE_EQ(j.at("dp_epsilon").get<double>(), n * l1 / 0.5);
  o.clip = 0;
  EXPECT_FALSE(noise_accounting(o, d, T, n).contains("dp_epsilon"));  // no claim without clipping
}

TEST(DpAccounting, TheRunsSummaryStatesEpsilonPerExample) {
  auto cfg = guarded_test::base_config({{"k", "1"}, {"m", "1"}, {"noise", "gaussian"}, {"noise_scale", "4"}, {"clip", "1"}});
  auto server = guarded_test::tapped_server("split");
  auto s = open_split_session(cfg, parse_split_options("split", cfg.design_options), server.endpoint);
  (void)s->evaluate(guarded_test::batches(1));
  auto r = s->report().at("noise");
  EXPECT_EQ(r.at("mechanism"), "discrete_gaussian");
  EXPECT_EQ(r.at("seq_len"), 24);
  EXPECT_EQ(r.at("releases_per_example"), 1);
  EXPECT_GT(r.at("dp_epsilon").get<double>(), 0.0);
  EXPECT_TRUE(r.contains("validation_example"));
  EXPECT_NE(r.at("covers").get<std::string>().find("not noised"), std::string::npos);
  // Every value the server received is on the noise grid.
  const double grid = r.at("grid").get<double>();
  for (const auto& e : server.tap->entries())
    if (e.direction == transport::Direction::kReceived && e.message.op == "split.forward") {
      auto k = e.message.tensor("h").to(at::kDouble) / grid;
      EXPECT_TRUE(at::equal(k, at::round(k)));
    }
}

}  // namespace
}  // namespace veil
