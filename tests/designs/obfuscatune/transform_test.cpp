// The secret transforms: each kind is the matrix it claims (inverse, transpose, condition number),
// the structured one is orthogonal for any size, and options are validated.
#include "veil/designs/obfuscatune/transform.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "veil/designs/obfuscatune/kronecker.h"
#include "veil/designs/obfuscatune/options.h"
#include "veil/designs/obfuscatune/secret_rng.h"

namespace veil::designs::obfuscatune {
namespace {

double cond(const at::Tensor& m) {
  auto s = at::linalg_svdvals(m);
  return (s.max() / s.min()).item<double>();
}

TEST(ObfuscatuneTransform, EveryKindAppliesItsMatrixInverseAndTransposes) {
  SecretRng rng;
  for (MatrixKind kind : {MatrixKind::kOrthogonal, MatrixKind::kKappa, MatrixKind::kGaussian, MatrixKind::kHadamard,
                          MatrixKind::kKronecker}) {
    for (std::int64_t d : {1, 2, 8, 24, 96, 173, 1100}) {
      auto t = SecretTransform::draw(kind, d, 10.0, rng);
      at::Tensor r = t.dense();
      at::Tensor x = rng.normal({5, d});
      const double tol = 1e-4 * (kind == MatrixKind::kGaussian ? cond(r) : 10.0);
      EXPECT_TRUE(at::allclose(t.apply(x, Side::kR), x.mm(r), 1e-4, 1e-4)) << to_string(kind) << " d=" << d;
      EXPECT_LT((t.apply(t.apply(x, Side::kR), Side::kInverse) - x).abs().max().item<double>(), tol)
          << to_string(kind) << " d=" << d;
      EXPECT_TRUE(at::allclose(t.apply(x, Side::kTranspose), x.mm(r.t()), 1e-4, 1e-4)) << to_string(kind);
      EXPECT_LT((t.apply(t.apply(x, Side::kTranspose), Side::kInverseTranspose) - x).abs().max().item<double>(), tol)
          << to_string(kind);
    }
  }
}

TEST(ObfuscatuneTransform, ConditionNumbersAreAsChosen) {
  SecretRng rng;
  EXPECT_NEAR(cond(SecretTransform::draw(MatrixKind::kOrthogonal, 64, 1, rng).dense()), 1.0, 1e-5);
  EXPECT_NEAR(cond(SecretTransform::draw(MatrixKind::kHadamard, 96, 1, rng).dense()), 1.0, 1e-5);
  for (std::int64_t d : {96, 172, 768})
    EXPECT_NEAR(cond(SecretTransform::draw(MatrixKind::kKronecker, d, 1, rng).dense()), 1.0, 1e-5) << d;
  for (double k : {10.0, 1e3, 1e4}) {
    const double c = cond(SecretTransform::draw(MatrixKind::kKappa, 64, k, rng).dense());
    EXPECT_NEAR(c / k, 1.0, 0.02) << "kappa " << k;  // float32 storage
  }
  // The paper's naive Gaussian matrices are far from well conditioned.
  EXPECT_GT(cond(SecretTransform::draw(MatrixKind::kGaussian, 64, 1, rng).dense()), 10.0);
}

TEST(ObfuscatuneTransform, BlockHadamardIsASymmetricInvolutionForAnySize) {
  for (std::int64_t d : {1, 2, 64, 96, 768, 4096, 4100}) {
    at::Tensor x = at::randn({3, d}, at::kDouble);
    at::Tensor y = block_hadamard(x);
    EXPECT_TRUE(at::allclose(block_hadamard(y), x, 1e-9, 1e-9)) << d;
    EXPECT_NEAR(y.norm().item<double>(), x.norm().item<double>(), 1e-9 * x.norm().item<double>()) << d;
  }
  // Size 128 (64 × 2 factors) is the Sylvester matrix.
  at::Tensor h = block_hadamard(at::eye(128, at::kDouble)) * std::sqrt(128.0);
  EXPECT_TRUE(at::allclose(h.abs(), at::ones({128, 128}, at::kDouble)));
  EXPECT_TRUE(at::allclose(h, h.t()));
}

TEST(ObfuscatuneTransform, KroneckerFactorsAreBalancedAndCoverTheSize) {
  for (std::int64_t d : {1, 2, 7, 64, 172, 173, 768, 2048, 2304, 3072, 8192, 4099}) {
    auto f = KroneckerTransform::factor(d);
    std::int64_t p = 1;
    for (auto b : f) p *= b;
    const std::int64_t biggest = *std::max_element(f.begin(), f.end());
    EXPECT_LE(p, d) << d;
    EXPECT_LT(d - p, biggest) << d;
    EXPECT_LE(biggest, 2 * static_cast<std::int64_t>(std::sqrt(static_cast<double>(d))) + 2) << d;
  }
  EXPECT_EQ(KroneckerTransform::factor(768), (std::vector<std::int64_t>{24, 32}));
  EXPECT_EQ(KroneckerTransform::factor(8192), (std::vector<std::int64_t>{16, 16, 32}));
  // The matrix is no Kronecker product in the clear: the permutations and signs mix every
  // coordinate with every other (a dense R has no zero entries).
  SecretRng rng;
  at::Tensor r = SecretTransform::draw(MatrixKind::kKronecker, 96, 1, rng).dense();
  EXPECT_EQ(r.eq(0).sum().item<std::int64_t>(), 0);
}

// The row kernel against R assembled independently (at::kron of the factors, permutation and sign
// matrices) in float64: float64 rows to 1e-12, float32 rows (also strided, as a column block of a
// fused reply) to float32 rounding, forward and inverse; sizes with two and three factors and
// with a remainder block.
TEST(ObfuscatuneTransform, KroneckerKernelMatchesADenseFloat64Reference) {
  SecretRng rng;
  EXPECT_EQ(KroneckerTransform::factor(1030), (std::vector<std::int64_t>{32, 32}));  // a remainder of 6
  EXPECT_EQ(KroneckerTransform::factor(2048).size(), 3u);
  for (std::int64_t d : {1, 7, 96, 173, 768, 1030, 2048}) {
    auto t = KroneckerTransform::draw(d, rng);
    at::Tensor r = t.reference_matrix();
    ASSERT_EQ(r.sizes(), (std::vector<std::int64_t>{d, d}));
    if (d <= 1030) {
      EXPECT_LT((r.mm(r.t()) - at::eye(d, at::kDouble)).abs().max().item<double>(), 1e-12) << d;
    }
    at::Tensor x = rng.normal({37, d});
    at::Tensor want = x.mm(r), want_inv = x.mm(r.t());
    EXPECT_LT((t.apply(x, false) - want).abs().max().item<double>(), 1e-12) << d;
    EXPECT_LT((t.apply(x, true) - want_inv).abs().max().item<double>(), 1e-12) << d;
    at::Tensor wide = rng.normal({37, d + 5}).to(at::kFloat);
    at::Tensor xf = wide.narrow(1, 3, d);  // rows with stride d + 5
    const double scale = x.abs().max().item<double>();
    EXPECT_LT((t.apply(xf, false).to(at::kDouble) - xf.to(at::kDouble).mm(r)).abs().max().item<double>(), 2e-5 * scale)
        << d;
    EXPECT_LT((t.apply(xf, true).to(at::kDouble) - xf.to(at::kDouble).mm(r.t())).abs().max().item<double>(),
              2e-5 * scale)
        << d;
  }
}

// The matched variant's kinds against matrices written out directly: block-diagonal against
// at::block_diag of its blocks, the signed permutation against R[π(k), k] = s_k.
TEST(ObfuscatuneTransform, BlockDiagonalAndSignedPermutationAreTheirMatrices) {
  SecretRng rng;
  std::vector<at::Tensor> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(std::get<0>(at::linalg_qr(rng.normal({4, 4}))));
  auto bd = SecretTransform::block_diagonal(at::stack(blocks));
  at::Tensor want = at::block_diag(blocks);
  at::Tensor perm = rng.permutation(12), signs = rng.signs(12);
  auto sp = SecretTransform::signed_permutation(perm, signs);
  at::Tensor pm = at::zeros({12, 12}, at::kDouble);
  for (std::int64_t k = 0; k < 12; ++k) pm[perm[k].item<std::int64_t>()][k] = signs[k];
  for (const auto& [t, r] : {std::pair{&bd, want}, std::pair{&sp, pm}}) {
    EXPECT_TRUE(at::allclose(t->dense(), r, 1e-12, 1e-12)) << to_string(t->kind());
    at::Tensor x = rng.normal({5, 12});
    EXPECT_TRUE(at::allclose(t->apply(x, Side::kInverse), x.mm(r.t()), 1e-12, 1e-12)) << to_string(t->kind());
    EXPECT_TRUE(at::allclose(t->apply(x.to(at::kFloat), Side::kR).to(at::kDouble), x.mm(r), 1e-5, 1e-5));
    EXPECT_TRUE(at::allclose(t->apply(x.narrow(0, 0, 1).squeeze(0), Side::kR), x.narrow(0, 0, 1).mm(r).squeeze(0)));
  }
  EXPECT_THROW((void)SecretTransform::block_diagonal(at::zeros({2, 3, 4})), std::invalid_argument);
  EXPECT_THROW((void)SecretTransform::signed_permutation(perm, at::ones({5})), std::invalid_argument);
  EXPECT_THROW((void)SecretTransform::draw(MatrixKind::kBlockDiagonal, 4, 1, rng), std::invalid_argument);
}

TEST(ObfuscatuneTransform, FreshDrawsDiffer) {
  SecretRng rng;
  auto a = SecretTransform::draw(MatrixKind::kHadamard, 32, 1, rng).dense();
  auto b = SecretTransform::draw(MatrixKind::kHadamard, 32, 1, rng).dense();
  EXPECT_GT((a - b).abs().max().item<double>(), 0.1);
  EXPECT_NE(rng.permutation(64).equal(rng.permutation(64)), true);
}

TEST(ObfuscatuneOptions, ParsesAndRejects) {
  auto o = ObfuscatuneOptions::parse({{"kappa", "100"}, {"freivalds", "0.5"}, {"variant", "paper"}});
  EXPECT_EQ(o.matrix, MatrixKind::kKappa);
  EXPECT_EQ(o.kappa, 100.0);
  EXPECT_EQ(o.variant, Variant::kPaper);
  EXPECT_EQ(ObfuscatuneOptions::parse({{"variant", "matched"}}).variant, Variant::kMatched);
  EXPECT_EQ(ObfuscatuneOptions::parse({{"variant", "full"}}).variant, Variant::kFull);
  EXPECT_EQ(ObfuscatuneOptions::parse({}).matrix, MatrixKind::kKronecker);
  auto rejects = [](std::map<std::string, std::string> m, const std::string& needle) {
    try {
      (void)ObfuscatuneOptions::parse(m);
      ADD_FAILURE() << "accepted " << m.begin()->first;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  rejects({{"kapa", "2"}}, "unknown --opt 'kapa'");
  rejects({{"kappa", "0.5"}}, "kappa must be >= 1");
  rejects({{"kappa", "ten"}}, "not a number");
  rejects({{"matrix", "hadamard"}, {"kappa", "10"}}, "matrix=kappa only");
  rejects({{"matrix", "identity"}}, "plaintext");
  rejects({{"matrix", "dct"}}, "matrix must be");
  rejects({{"freivalds", "2"}}, "freivalds must be in [0, 1]");
  rejects({{"variant", "half"}}, "variant must be");
  rejects({{"variant", "full"}, {"mlp", "full"}}, "variant=matched only");
  rejects({{"mlp", "hidden"}}, "mlp must be permuted or full");
  EXPECT_EQ(ObfuscatuneOptions::parse({}).variant, Variant::kMatched);
  EXPECT_TRUE(ObfuscatuneOptions::parse({{"mlp", "full"}}).mlp_full);
}

}  // namespace
}  // namespace veil::designs::obfuscatune
