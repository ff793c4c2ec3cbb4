// The audit directory's capture policies: full capture reads back byte for byte; a sample keeps
// the bytes of every Nth message while every message is indexed and hashed; a size cap stops
// keeping bytes but never stops indexing; a message file that was altered after the fact is
// refused by the reader (its SHA-256 no longer matches the index).
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "veil/transport/audit_dir.h"

namespace veil::transport {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("veil_audit_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

Message message(int i) {
  Message m;
  m.op = "test.op";
  m.layer = i;
  m.tensors["x"] = at::full({64, 32}, static_cast<float>(i));
  return m;
}

std::vector<nlohmann::json> index_lines(const fs::path& dir) {
  std::ifstream in(dir / "index.jsonl");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(AuditDir, FullCaptureKeepsEveryMessageAndItsHash) {
  const auto dir = fresh_dir("full");
  {
    DirectoryTap tap(dir);
    for (int i = 0; i < 5; ++i) tap.record("worker-0", Direction::kReceived, message(i), 0);
    EXPECT_EQ(tap.size(), 5u);
  }
  const auto entries = read_audit_dir(dir);
  ASSERT_EQ(entries.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(at::equal(entries[i].message.tensor("x"), message(i).tensors["x"]));
  for (const auto& j : index_lines(dir)) {
    EXPECT_TRUE(j.contains("file"));
    EXPECT_EQ(j.at("sha256").get<std::string>().size(), 64u);
  }
  fs::remove_all(dir);
}

TEST(AuditDir, SampleKeepsEveryNthMessageAndHashesTheRest) {
  const auto full = fresh_dir("ref"), sampled = fresh_dir("sampled");
  {
    DirectoryTap a(full), b(sampled, AuditOptions{false, 3, 0});
    for (int i = 0; i < 7; ++i) {
      a.record("w", Direction::kSent, message(i), 0);
      b.record("w", Direction::kSent, message(i), 0);
    }
    EXPECT_EQ(b.size(), 7u);
  }
  const auto la = index_lines(full), lb = index_lines(sampled);
  ASSERT_EQ(lb.size(), 7u);
  for (std::size_t i = 0; i < lb.size(); ++i) {
    EXPECT_EQ(lb[i].contains("file"), i % 3 == 0) << i;
    // A hashed-only message carries the same hash as the kept bytes would have.
    EXPECT_EQ(lb[i].at("sha256"), la[i].at("sha256")) << i;
    EXPECT_EQ(lb[i].at("tensors"), la[i].at("tensors"));
  }
  const auto entries = read_audit_dir(sampled);
  ASSERT_EQ(entries.size(), 3u);  // messages 0, 3, 6
  EXPECT_EQ(entries[1].message.layer, 3);
  fs::remove_all(full);
  fs::remove_all(sampled);
}

TEST(AuditDir, SizeCapStopsKeepingBytesButNotIndexing) {
  const auto dir = fresh_dir("cap");
  std::uint64_t kept = 0;
  {
    DirectoryTap tap(dir, AuditOptions{true, 0, 20000});  // each message is ~8.3 kB on the wire
    for (int i = 0; i < 6; ++i) tap.record("w", Direction::kReceived, message(i), 0);
    kept = tap.bytes_kept();
  }
  EXPECT_LE(kept, 20000u);
  EXPECT_GT(kept, 0u);
  const auto lines = index_lines(dir);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(read_audit_dir(dir).size(), 2u);
  std::uintmax_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".veilmsg") on_disk += e.file_size();
  EXPECT_EQ(on_disk, kept);
  fs::remove_all(dir);
}

TEST(AuditDir, AlteredMessageFileIsRefused) {
  const auto dir = fresh_dir("altered");
  { DirectoryTap(dir).record("w", Direction::kReceived, message(1), 0); }
  const auto file = dir / index_lines(dir).at(0).at("file").get<std::string>();
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 1] ^= 1;  // one payload bit: still a valid message, different tensor
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  try {
    (void)read_audit_dir(dir);
    FAIL() << "an altered message file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("SHA-256"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(AuditDir, SequenceContinuesAcrossReopen) {
  const auto dir = fresh_dir("reopen");
  { DirectoryTap(dir).record("w", Direction::kReceived, message(1), 0); }
  { DirectoryTap(dir, AuditOptions{false, 0, 0}).record("w", Direction::kSent, message(2), 0); }
  const auto lines = index_lines(dir);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].at("seq"), 2);
  EXPECT_FALSE(lines[1].contains("file"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veil::transport
