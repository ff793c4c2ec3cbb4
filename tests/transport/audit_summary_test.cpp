// summarize_audit: counts and shapes per operation from a real DirectoryTap's index; a hashes-only
// tap still summarises; a party killed mid-line leaves a partial line that is ignored; a complete
// line that is not an index entry is refused naming its line.
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "veil/transport/audit_dir.h"
#include "veil/transport/audit_summary.h"

namespace veil::transport {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("veil_audit_summary_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

void record_run(const fs::path& dir, AuditOptions options = {}) {
  DirectoryTap tap(dir, options);
  for (int i = 0; i < 3; ++i) {
    Message in;
    in.op = "toy.forward";
    in.tensors["x"] = at::zeros({4, 8});
    tap.record("worker-0", Direction::kReceived, in, 200);
    Message out;
    out.op = "toy.forward";
    out.blobs["ct"] = std::string(100, '\x7f');
    tap.record("worker-0", Direction::kSent, out, 150);
  }
  Message setup;
  setup.op = "toy.setup";
  setup.blobs["key"] = std::string(40, 'k');
  tap.record("worker-0", Direction::kReceived, setup, 60);
}

TEST(AuditSummary, CountsBytesShapesAndBlobsPerOperation) {
  const auto dir = fresh_dir("counts");
  record_run(dir);
  const auto s = summarize_audit(dir);
  EXPECT_EQ(s.party, "worker-0");
  EXPECT_EQ(s.messages, 7u);
  EXPECT_EQ(s.kept, 7u);
  // Bytes are the index's wire_bytes (the tap's own measure of each message), summed by direction.
  std::uint64_t want_received = 0, want_sent = 0;
  {
    std::ifstream in(dir / "index.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      (j["direction"] == "received" ? want_received : want_sent) += j["wire_bytes"].get<std::uint64_t>();
    }
  }
  EXPECT_GT(want_received, 0u);
  EXPECT_EQ(s.received_bytes, want_received);
  EXPECT_EQ(s.sent_bytes, want_sent);
  ASSERT_EQ(s.ops.size(), 3u);
  EXPECT_EQ(s.ops[0].wire_bytes + s.ops[2].wire_bytes, want_received);
  EXPECT_EQ(s.received_tensors, 3u);
  EXPECT_EQ(s.received_blobs, 1u);
  // (forward, received), (forward, sent), (setup, received)
  EXPECT_EQ(s.ops[0].op, "toy.forward");
  EXPECT_EQ(s.ops[0].direction, "received");
  EXPECT_EQ(s.ops[0].messages, 3u);
  EXPECT_EQ(s.ops[0].tensors, (std::set<std::string>{"x f32 [4,8]"}));
  EXPECT_EQ(s.ops[1].blob_count, 3u);
  EXPECT_EQ(s.ops[1].blob_bytes, 300u);
  EXPECT_EQ(s.ops[2].op, "toy.setup");
  const auto text = s.to_text();
  EXPECT_NE(text.find("toy.forward"), std::string::npos) << text;
  EXPECT_NE(text.find("x f32 [4,8]"), std::string::npos) << text;
  EXPECT_NE(text.find("3 opaque blobs"), std::string::npos) << text;
  EXPECT_EQ(s.to_json()["ops"].size(), 3u);
  fs::remove_all(dir);
}

TEST(AuditSummary, HashesOnlyTapsSummariseAndPartialLastLinesAreIgnored) {
  const auto dir = fresh_dir("partial");
  AuditOptions hashes_only;
  hashes_only.full = false;
  record_run(dir, hashes_only);
  {
    std::ofstream app(dir / "index.jsonl", std::ios::app);
    app << R"({"seq":8,"party":"worker-0","direction":"rece)";  // killed mid-write
  }
  const auto s = summarize_audit(dir);
  EXPECT_EQ(s.messages, 7u);
  EXPECT_EQ(s.kept, 0u);
  fs::remove_all(dir);
}

TEST(AuditSummary, ABadCompleteLineIsRefusedNamingIt) {
  const auto dir = fresh_dir("bad");
  record_run(dir);
  {
    std::ofstream app(dir / "index.jsonl", std::ios::app);
    app << R"({"op":"x","direction":"sideways"})" << "\n";
  }
  try {
    (void)summarize_audit(dir);
    FAIL() << "accepted a bad line";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 8"), std::string::npos) << e.what();
  }
  {
    std::ofstream bad(dir / "index.jsonl", std::ios::app);
    bad << "[1,2]\n";
  }
  EXPECT_THROW((void)summarize_audit(dir), std::invalid_argument);
  EXPECT_THROW((void)summarize_audit(dir / "missing"), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veil::transport
