#include <gtest/gtest.h>

#include <fstream>

#include "support/shared_assets.h"
#include "veil/eval/scores.h"

namespace veil::eval {
namespace {

TEST(Scores, TokenAccuracyCountsPositionsOverTruthLength) {
  std::vector<std::int64_t> truth{1, 2, 3, 4}, guess{1, 9, 3};
  EXPECT_DOUBLE_EQ(token_accuracy(truth, guess), 0.5);  // 2 of 4; the missing 4th is wrong
  EXPECT_DOUBLE_EQ(token_accuracy(truth, truth), 1.0);
  std::vector<std::int64_t> longer{1, 2, 3, 4, 5, 6};
  EXPECT_DOUBLE_EQ(token_accuracy(truth, longer), 1.0);
  EXPECT_DOUBLE_EQ(token_accuracy({}, guess), 0.0);
}

TEST(Scores, LcsByHand) {
  std::vector<std::string> a{"a", "b", "c", "b", "d", "a", "b"}, b{"b", "d", "c", "a", "b", "a"};
  EXPECT_EQ(lcs_length(a, b), 4u);  // the classic CLRS example: "bcba"
  EXPECT_EQ(lcs_length(a, {}), 0u);
}

TEST(Scores, RougeLByHand) {
  // truth 6 words, guess 5 words, LCS "the cat on the mat" = 5: P = 1, R = 5/6, F1 = 10/11.
  EXPECT_NEAR(rouge_l_f1("The cat sat on the mat", "the cat on the mat"), 10.0 / 11.0, 1e-12);
  EXPECT_DOUBLE_EQ(rouge_l_f1("a b c", "a b c"), 1.0);
  EXPECT_DOUBLE_EQ(rouge_l_f1("a b c", "x y"), 0.0);
  EXPECT_DOUBLE_EQ(rouge_l_f1("", "x"), 0.0);
  // Word order matters: reversed three words share an LCS of 1: P = R = 1/3.
  EXPECT_NEAR(rouge_l_f1("a b c", "c b a"), 1.0 / 3.0, 1e-12);
}

TEST(Scores, SecretRecoveryCountsPresentAndVerbatim) {
  std::vector<SecretRecord> secrets{{"r0", {{"name", "Anne Elliot"}, {"account_number", "1234-5678-9012"}}},
                                    {"r1", {{"name", "Frederick Wentworth"}, {"diagnosis", "asthma"}}}};
  std::vector<std::string> truths{"Anne Elliot, account 1234-5678-9012, was seen.",
                                  "Frederick Wentworth has asthma."};
  std::vector<std::string> guesses{"Anne Elliot, account 1234-5678-0000, was seen.", "Frederick Wentworth has asthma."};
  auto s = secret_recovery(truths, guesses, secrets);
  EXPECT_EQ(s.present, 4);
  EXPECT_EQ(s.recovered, 3);  // the account number differs in its last group
  EXPECT_DOUBLE_EQ(s.fraction(), 0.75);
  EXPECT_EQ(s.by_field["account_number"], (std::pair<std::int64_t, std::int64_t>{0, 1}));
  EXPECT_EQ(s.by_field["name"], (std::pair<std::int64_t, std::int64_t>{2, 2}));
  EXPECT_THROW((void)secret_recovery(truths, std::vector<std::string>{"x"}, secrets), std::invalid_argument);
}

TEST(Scores, LoadSecretsOfTheCommittedDataset) {
  auto s = load_secrets(std::filesystem::path(VEIL_SOURCE_DIR) / "data/private/secrets.jsonl");
  ASSERT_EQ(s.size(), 600u);
  EXPECT_EQ(s[0].fields.at("name"), "Frederick Harville");
  EXPECT_EQ(s[0].fields.at("account_number"), "6842-6680-0873");
  EXPECT_EQ(s[0].fields.count("clinic"), 0u);  // not a secret
}

TEST(Scores, LoadSecretsRejectsBadLines) {
  auto dir = veil::testing::scratch_dir();
  std::ofstream(dir / "bad.jsonl") << "{\"name\": \"A B\"}\nnot json\n";
  try {
    (void)load_secrets(dir / "bad.jsonl");
    FAIL() << "expected an exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)load_secrets(dir / "missing.jsonl"), std::runtime_error);
}

}  // namespace
}  // namespace veil::eval
