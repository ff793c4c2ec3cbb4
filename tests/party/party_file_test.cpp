// The TOML reader under `veil party`: keys in file order with their lines, sections, tables and
// arrays as values, and one clear error with a position for everything it refuses.
#include <gtest/gtest.h>

#include "veil/config/party_file.h"

namespace veil::config {
namespace {

std::string error_of(const std::string& text) {
  try {
    (void)parse_party_file(text, "dir/p.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PartyFile, KeysKeepTheirOrderLinesAndKinds) {
  const auto f = parse_party_file(
      "role = \"data-owner\"\nmodel = \"m\"\nworkers = [\"a:1\", \"b:2\"]\nopt = { k = 2, noise_scale = 0.5 }\n"
      "insecure = false\n\n[finetune]\nmax-steps = 3\nlr = 3e-3\n[generate]\nprompt = \"hi\"\n",
      "dir/p.toml");
  EXPECT_EQ(f.role, "data-owner");
  EXPECT_EQ(f.dir, "dir");
  ASSERT_EQ(f.sections.size(), 3u);
  const auto& top = f.sections[0].entries;
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].key, "model");
  EXPECT_EQ(top[0].at.line, 2u);
  EXPECT_EQ(top[1].value.kind, Value::Kind::kArray);
  ASSERT_EQ(top[1].value.items.size(), 2u);
  EXPECT_EQ(top[1].value.items[1].text, "b:2");
  EXPECT_EQ(top[2].key, "opt");
  ASSERT_EQ(top[2].value.items.size(), 2u);
  ASSERT_EQ(top[2].value.keys.size(), 2u);
  EXPECT_EQ(top[2].value.keys[0], "k");
  EXPECT_EQ(top[2].value.items[1].text, "0.5");
  EXPECT_EQ(top[3].value.text, "false");
  EXPECT_EQ(f.sections[1].name, "finetune");
  EXPECT_EQ(f.sections[1].entries[0].value.text, "3");
  EXPECT_EQ(f.sections[1].entries[1].value.text, "0.003");
  EXPECT_EQ(f.sections[2].name, "generate");
  EXPECT_EQ(f.sections[2].entries[0].at.line, 11u);
}

TEST(PartyFile, BadTomlNamesLineAndColumn) {
  const auto e = error_of("role = \"worker\"\nlisten = 0.0.0.0:7001\n");
  EXPECT_NE(e.find("dir/p.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid TOML"), std::string::npos) << e;
  EXPECT_NE(error_of("role = \"worker\"\nrole = \"enclave\"\n").find("dir/p.toml:2:"), std::string::npos);
  EXPECT_NE(error_of("role = \"worker\"\n[x\n").find("dir/p.toml:2:"), std::string::npos);
}

TEST(PartyFile, RefusesWhatNoFlagCanTake) {
  EXPECT_NE(error_of("listen = \"a:1\"\n").find("no 'role' key"), std::string::npos);
  EXPECT_NE(error_of("role = 3\n").find("dir/p.toml:1:1: key 'role': expected a string"), std::string::npos);
  EXPECT_NE(error_of("role = \"worker\"\nat = 1979-05-27\n").find("dir/p.toml:2:6: key 'at': dates"), std::string::npos);
  EXPECT_NE(error_of("role = \"worker\"\nlr = nan\n").find("not a finite number"), std::string::npos);
  std::string deep = "role = \"worker\"\nopt = ";
  for (int i = 0; i < 20; ++i) deep += "[";
  for (int i = 0; i < 20; ++i) deep += "]";
  EXPECT_NE(error_of(deep + "\n").find("nested too deeply"), std::string::npos);
  EXPECT_NE(error_of(std::string(2 << 20, '#')).find("larger than 1 MiB"), std::string::npos);
  EXPECT_NE(error_of("").find("no 'role' key"), std::string::npos);
}

TEST(PartyFile, MissingFileIsOneClearError) {
  try {
    (void)load_party_file("/nonexistent/party.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/party.toml: cannot read"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace veil::config
