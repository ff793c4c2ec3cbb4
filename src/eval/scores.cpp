#include "veil/eval/scores.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "veil/util/check.h"

namespace veil::eval {

double token_accuracy(std::span<const std::int64_t> truth, std::span<const std::int64_t> guess) {
  if (truth.empty()) return 0.0;
  std::size_t hit = 0;
  for (std::size_t i = 0; i < std::min(truth.size(), guess.size()); ++i) hit += truth[i] == guess[i];
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

std::size_t lcs_length(std::span<const std::string> a, std::span<const std::string> b) {
  std::vector<std::size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!w.empty()) out.push_back(std::move(w)), w.clear();
    } else {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

double rouge_l_f1(std::string_view truth, std::string_view guess) {
  auto t = words(truth), g = words(guess);
  if (t.empty() || g.empty()) return 0.0;
  const double lcs = static_cast<double>(lcs_length(t, g));
  if (lcs == 0) return 0.0;
  const double p = lcs / static_cast<double>(g.size()), r = lcs / static_cast<double>(t.size());
  return 2 * p * r / (p + r);
}

std::vector<std::string> secret_field_names() { return {"name", "date_of_birth", "diagnosis", "account_number"}; }

std::vector<SecretRecord> load_secrets(const std::filesystem::path& path) {
  std::ifstream in(path);
  VEIL_CHECK_IO(in, "cannot read ", path.string());
  std::vector<SecretRecord> out;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    VEIL_CHECK_ARG(!j.is_discarded() && j.is_object(), path.string(), ":", n, ": not a JSON object");
    SecretRecord r;
    if (j.contains("id") && j["id"].is_string()) r.id = j["id"].get<std::string>();
    for (const auto& f : secret_field_names()) {
      if (!j.contains(f)) continue;
      VEIL_CHECK_ARG(j[f].is_string() && !j[f].get<std::string>().empty(), path.string(), ":", n, ": field '", f,
                     "' must be a non-empty string");
      r.fields[f] = j[f].get<std::string>();
    }
    VEIL_CHECK_ARG(!r.fields.empty(), path.string(), ":", n, ": no secret field (", "name, date_of_birth, diagnosis, ",
                   "account_number)");
    out.push_back(std::move(r));
  }
  return out;
}

SecretScore secret_recovery(std::span<const std::string> truths, std::span<const std::string> guesses,
                            std::span<const SecretRecord> secrets) {
  VEIL_CHECK_ARG(truths.size() == guesses.size(), "secret_recovery: ", truths.size(), " truths but ", guesses.size(),
                 " guesses");
  SecretScore s;
  for (std::size_t i = 0; i < truths.size(); ++i) {
    std::set<std::pair<std::string, std::string>> seen;  // (field, value) counted once per text
    for (const auto& rec : secrets)
      for (const auto& [field, value] : rec.fields) {
        if (truths[i].find(value) == std::string::npos || !seen.insert({field, value}).second) continue;
        const bool got = guesses[i].find(value) != std::string::npos;
        ++s.present;
        s.recovered += got;
        auto& f = s.by_field[field];
        f.first += got;
        ++f.second;
      }
  }
  return s;
}

}  // namespace veil::eval
