// How much of a private text an attacker reconstructed: token accuracy, ROUGE-L F1 and the
// fraction of secret fields (names, dates, diagnoses, account numbers) recovered verbatim.
// One definition each; docs/evaluation.md states them in words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace veil::eval {

// Fraction of positions i < min(|truth|, |guess|) with guess[i] == truth[i], over |truth|
// (missing guesses count as wrong; extra guesses are ignored). 0 for an empty truth.
[[nodiscard]] double token_accuracy(std::span<const std::int64_t> truth, std::span<const std::int64_t> guess);

// Length of the longest common subsequence of a and b.
[[nodiscard]] std::size_t lcs_length(std::span<const std::string> a, std::span<const std::string> b);

// ROUGE-L F1 (Lin 2004, beta = 1) over whitespace-separated, lower-cased words:
// P = LCS/|guess|, R = LCS/|truth|, F1 = 2PR/(P+R); 0 when either side is empty.
[[nodiscard]] double rouge_l_f1(std::string_view truth, std::string_view guess);
[[nodiscard]] std::vector<std::string> words(std::string_view text);

// The secret fields of one synthetic record (data/private/secrets.jsonl).
struct SecretRecord {
  std::string id;
  std::map<std::string, std::string> fields;  // name, date_of_birth, diagnosis, account_number
};
// The secret fields scored: every field of secrets.jsonl except id, split, template, clinic and
// visit_date (which are not secret).
[[nodiscard]] std::vector<std::string> secret_field_names();
// Reads secrets.jsonl. Throws std::invalid_argument ("FILE:LINE: ...") for a malformed line,
// std::runtime_error when unreadable.
[[nodiscard]] std::vector<SecretRecord> load_secrets(const std::filesystem::path& path);

struct SecretScore {
  std::int64_t present = 0;    // secret values that occur in the true texts
  std::int64_t recovered = 0;  // ... and occur verbatim in the reconstruction of the same text
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_field;  // field -> (recovered, present)
  [[nodiscard]] double fraction() const { return present ? static_cast<double>(recovered) / present : 0.0; }
};
// For each (truth, guess) pair, every secret value of any record that occurs in the truth counts
// as present; it is recovered when it also occurs in the guess (exact substring match).
[[nodiscard]] SecretScore secret_recovery(std::span<const std::string> truths, std::span<const std::string> guesses,
                                          std::span<const SecretRecord> secrets);

}  // namespace veil::eval
