// `veil party --check FILE`: the examples under examples/party are accepted once the files they
// name exist (certificates, model, data), and every kind of mistake is one error naming the key
// and its line, without starting anything.
#include <gtest/gtest.h>

#include "party/party_support.h"

namespace veil::party_test {
namespace {

const fs::path kSource = VEIL_SOURCE_DIR;

// A deployment directory holding what the example configurations name: certificates (contents do
// not matter to --check), the embedded model, a data file and the enclave's attestation key.
fs::path deployment(const std::string& name) {
  const auto dir = test_dir() / name;
  fs::remove_all(dir);
  for (const char* who : {"ca", "owner", "worker", "enclave", "model-owner"}) {
    write(dir / "certs" / (std::string(who) + ".pem"), "placeholder\n");
    write(dir / "certs" / (std::string(who) + ".key"), "placeholder\n");
  }
  write(dir / "attestation.key", "placeholder\n");
  fs::create_directories(dir / "models");
  fs::create_directory_symlink(kSource / "models/veil-austen-tiny", dir / "models/veil-austen-tiny");
  fs::create_directories(dir / "data");
  fs::copy_file(kSource / "data/private/train/clinic_records.jsonl", dir / "data/train.jsonl");
  return dir;
}

TEST(PartyCheck, EveryExampleIsAcceptedWithItsFilesInPlace) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto dir = deployment("party-examples");
  int checked = 0;
  for (const auto& design : fs::directory_iterator(kSource / "examples/party")) {
    if (!design.is_directory()) continue;
    for (const auto& file : fs::directory_iterator(design.path())) {
      const auto copy = dir / (design.path().filename().string() + "-" + file.path().filename().string());
      fs::copy_file(file.path(), copy, fs::copy_options::overwrite_existing);
      const auto r = veil({"party", "--check", copy.string()});
      EXPECT_EQ(r.rc, 0) << copy << "\n" << r.err << r.out;
      EXPECT_NE(r.out.find("would run: veil "), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("is valid"), std::string::npos) << r.out;
      // Relative paths resolve against the file's directory, and keys become --key=value.
      if (r.out.find("--tls-ca=") != std::string::npos) {
        EXPECT_NE(r.out.find("--tls-ca=" + (dir / "certs/ca.pem").string()), std::string::npos) << r.out;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 10);
  // What each role runs.
  const auto worker = veil({"party", "--check", (dir / "he-lora-worker.toml").string()});
  EXPECT_NE(worker.out.find("would run: veil worker --design=he-lora --model=" + (dir / "models/veil-austen-tiny").string() +
                            " --listen=0.0.0.0:7001"),
            std::string::npos)
      << worker.out;
  const auto owner = veil({"party", "--check", (dir / "obfuscatune-data-owner.toml").string()});
  EXPECT_NE(owner.out.find("would run: veil finetune --design=obfuscatune --enclave=10.0.0.3:7002 --opt=measurement="),
            std::string::npos)
      << owner.out;
  EXPECT_NE(owner.out.find("--allow-simulated "), std::string::npos) << owner.out;
  EXPECT_NE(owner.out.find("would run: veil generate "), std::string::npos) << owner.out;
  const auto seal = veil({"party", "--check", (dir / "obfuscatune-model-owner.toml").string()});
  EXPECT_NE(seal.out.find("would run: veil provider seal --model="), std::string::npos) << seal.out;
}

// In the repository the examples name certificates nobody has made: each missing file is an error
// naming its key and line.
TEST(PartyCheck, MissingFilesAreErrorsNamingKeyAndLine) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto file = kSource / "examples/party/he-lora/worker.toml";
  const auto r = veil({"party", "--check", file.string()});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(file.string() + ":7:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("key 'tls-cert': " + (kSource / "examples/party/he-lora/certs/worker.pem").string() + " does not exist"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("key 'tls-key'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("would run"), std::string::npos) << "nothing is planned from a bad file";
}

struct Bad {
  std::string name, text, expect;
};

TEST(PartyCheck, EachMistakeIsOneErrorWithItsPosition) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto dir = deployment("party-bad");
  const std::string tls = "tls-cert = \"certs/worker.pem\"\ntls-key = \"certs/worker.key\"\ntls-ca = \"certs/ca.pem\"\n";
  const std::vector<Bad> cases = {
      {"unknown-key", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n", "bad.toml:3:1: key 'lisen': `veil worker` has no option --lisen"},
      {"bad-toml", "role = \"worker\"\nlisten = 127.0.0.1:0\n", "bad.toml:2:"},
      {"flag-type", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\ninsecure = \"yes\"\n", "bad.toml:3:1: key 'insecure' is a flag"},
      {"number-type", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\nmax-calls = \"many\"\n", "bad.toml:3:1: key 'max-calls': "},
      {"required", "role = \"worker\"\n" + tls, "--listen is required"},
      {"role", "role = \"cloud\"\n", "bad.toml:1:1: role 'cloud'"},
      {"section", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\n[finetune]\nlr = 1\n", "bad.toml:3:2: section [finetune]"},
      {"no-section", "role = \"data-owner\"\nmodel = \"models/veil-austen-tiny\"\n", "add a [finetune] and/or a [generate]"},
      {"section-key", "role = \"data-owner\"\n[generate]\nmodel = \"models/veil-austen-tiny\"\nlora-r = 4\n",
       "bad.toml:4:1: key 'lora-r' in [generate]: `veil generate` has no option --lora-r"},
      {"address", "role = \"worker\"\nlisten = \"no-port\"\n", "bad.toml:2:10: key 'listen': 'no-port' is not HOST:PORT"},
      {"missing-data", "role = \"data-owner\"\nmodel = \"models/veil-austen-tiny\"\n[finetune]\ndata = \"nope.jsonl\"\nout = \"o\"\n",
       "bad.toml:4:8: key 'data': " + (dir / "nope.jsonl").string() + " does not exist"},
      {"table", "role = \"worker\"\nlisten = { host = \"a\" }\n", "key 'listen': a table is only meaningful for 'opt'"},
      {"key-injection", "role = \"worker\"\n\"listen=1.2.3.4:5\" = \"x\"\n", "has no option --listen=1.2.3.4:5"},
      {"help", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\nhelp = true\n", "has no option --help"},
  };
  for (const auto& c : cases) {
    write(dir / "bad.toml", c.text);
    const auto r = veil({"party", "--check", (dir / "bad.toml").string()});
    EXPECT_EQ(r.rc, 2) << c.name << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": want '" << c.expect << "' in:\n" << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << c.name;
  }
  // Two problems, two errors.
  write(dir / "bad.toml", "role = \"worker\"\nlisten = \"127.0.0.1:0\"\nfoo = 1\nmax-calls = true\n");
  const auto two = veil({"party", "--check", (dir / "bad.toml").string()});
  EXPECT_NE(two.err.find("2 problems"), std::string::npos) << two.err;
  // Neither or both of --config and --check.
  EXPECT_EQ(veil({"party"}).rc, 2);
  EXPECT_EQ(veil({"party", "--check", "/nonexistent.toml"}).rc, 2);
}

// A value is always bound to its own key (--key=value): a string that looks like a flag stays a
// string, so a file cannot switch on --insecure through another key's value.
TEST(PartyCheck, ValuesCannotSmuggleFlags) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto dir = deployment("party-smuggle");
  write(dir / "w.toml",
        "role = \"worker\"\nlisten = \"127.0.0.1:0\"\nparty = \"--insecure\"\ntls-cert = \"certs/worker.pem\"\n"
        "tls-key = \"certs/worker.key\"\ntls-ca = \"certs/ca.pem\"\n");
  const auto r = veil({"party", "--check", (dir / "w.toml").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("--party=--insecure"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" --insecure"), std::string::npos) << r.out;
  // The environment fills what the file leaves out, and --check says so (names only, no values).
  const auto env = veil({"party", "--check", (dir / "w.toml").string()}, {"VEIL_MAX_CALLS=2", "VEIL_GRACE=98765431"});
  EXPECT_NE(env.out.find("also from the environment: "), std::string::npos) << env.out;
  EXPECT_NE(env.out.find("VEIL_GRACE"), std::string::npos) << env.out;
  EXPECT_NE(env.out.find("VEIL_MAX_CALLS"), std::string::npos) << env.out;
  EXPECT_EQ(env.out.find("98765431"), std::string::npos) << env.out;  // the value, never printed
  // A bad value from the environment is named by its variable.
  const auto bad = veil({"party", "--check", (dir / "w.toml").string()}, {"VEIL_MAX_CALLS=many"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("from the environment variable VEIL_MAX_CALLS"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace veil::party_test
