// Every option of every command has its environment mirror VEIL_<NAME> (one generic pass in
// apps/veil/env_mirrors.cpp), read only by the command that runs, never one of the variables Veil
// uses for other purposes, and a bad value names its variable.
#include <gtest/gtest.h>

#include "party/party_support.h"

namespace veil::party_test {
namespace {

const std::string kModel = std::string(VEIL_SOURCE_DIR) + "/models/veil-austen-tiny";

TEST(EnvMirrors, HelpShowsTheMirrorOfEveryCommandsOptions) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto gen = veil({"generate", "--help"});
  ASSERT_EQ(gen.rc, 0) << gen.err;
  for (const char* env : {"VEIL_TLS_CERT", "VEIL_TLS_KEY", "VEIL_TLS_CA", "VEIL_WORKERS", "VEIL_MAX_NEW_TOKENS", "VEIL_MODEL"})
    EXPECT_NE(gen.out.find(env), std::string::npos) << env << "\n" << gen.out;
  const auto worker = veil({"worker", "--help"});
  EXPECT_NE(worker.out.find("VEIL_LISTEN"), std::string::npos) << worker.out;
  const auto seal = veil({"provider", "seal", "--help"});
  EXPECT_NE(seal.out.find("VEIL_EXPECT_MEASUREMENT"), std::string::npos) << seal.out;
  // None mirrors a variable with another meaning.
  for (const char* cmd : {"finetune", "worker", "enclave", "party"}) {
    const auto h = veil({cmd, "--help"});
    for (const char* reserved : {"VEIL_WIRE", "VEIL_SHARED_DIR", "VEIL_BINARY_DIR", "VEIL_DENORMALS", "VEIL_MALLOC",
                                 "VEIL_HE_THREADS", "VEIL_HE_GEMM"})
      EXPECT_EQ(h.out.find(std::string(reserved) + ")"), std::string::npos) << cmd << " mirrors " << reserved;
  }
}

// Issue 22: VEIL_TLS_* worked for finetune but not for generate. The certificate named only in the
// environment is the one generate tries to load.
TEST(EnvMirrors, TlsFilesOfGenerateComeFromTheEnvironment) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto r = veil({"generate", "--model", kModel, "--design", "he-lora", "--workers", "127.0.0.1:9", "-n", "1"},
                      {"VEIL_TLS_CERT=/nonexistent/env-cert.pem", "VEIL_TLS_KEY=/nonexistent/env-key.pem",
                       "VEIL_TLS_CA=/nonexistent/env-ca.pem"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("/nonexistent/env-"), std::string::npos) << r.err;
  // The command line still wins over the environment.
  const auto cli = veil({"generate", "--model", kModel, "--design", "he-lora", "--workers", "127.0.0.1:9", "-n", "1",
                         "--tls-cert", "/nonexistent/cli-cert.pem", "--tls-key", "/nonexistent/cli-key.pem", "--tls-ca",
                         "/nonexistent/cli-ca.pem"},
                        {"VEIL_TLS_CERT=/nonexistent/env-cert.pem"});
  EXPECT_NE(cli.err.find("/nonexistent/cli-"), std::string::npos) << cli.err;
  EXPECT_EQ(cli.err.find("/nonexistent/env-"), std::string::npos) << cli.err;
}

TEST(EnvMirrors, ValuesComeFromTheEnvironmentForEveryCommand) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto r = veil({"generate", "--prompt", "It is", "--ignore-eos"}, {"VEIL_MODEL=" + kModel, "VEIL_MAX_NEW_TOKENS=3"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto five = veil({"generate", "--prompt", "It is", "--ignore-eos", "-n", "5"}, {"VEIL_MODEL=" + kModel});
  ASSERT_EQ(five.rc, 0) << five.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_LT(r.out.size(), five.out.size()) << "VEIL_MAX_NEW_TOKENS=3 was not applied: " << r.out << " vs " << five.out;
  // Flags take the usual spellings.
  for (const char* v : {"1", "true", "yes", "on", "0", "false", "no", "off"})
    EXPECT_EQ(veil({"generate", "--model", kModel, "-n", "1"}, {std::string("VEIL_IGNORE_EOS=") + v}).rc, 0) << v;
}

TEST(EnvMirrors, BadValueNamesTheVariable) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto r = veil({"generate", "--model", kModel}, {"VEIL_MAX_NEW_TOKENS=lots"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("VEIL_MAX_NEW_TOKENS='lots'"), std::string::npos) << r.err;
  const auto flag = veil({"generate", "--model", kModel, "-n", "1"}, {"VEIL_IGNORE_EOS=maybe"});
  EXPECT_EQ(flag.rc, 2);
  EXPECT_NE(flag.err.find("VEIL_IGNORE_EOS"), std::string::npos) << flag.err;
  const auto range = veil({"generate", "--model", kModel}, {"VEIL_TOP_P=7"});
  EXPECT_EQ(range.rc, 2);
  EXPECT_NE(range.err.find("VEIL_TOP_P"), std::string::npos) << range.err;
}

// Only the command that runs reads its mirrors: a value another command would refuse is ignored,
// and a variable Veil uses for something else never becomes a flag.
TEST(EnvMirrors, OnlyTheRunningCommandReadsItsMirrors) {
  if (!has_veil()) GTEST_SKIP() << "no bin/veil";
  const auto r = veil({"generate", "--model", kModel, "-n", "1"},
                      {"VEIL_LORA_R=not-a-number", "VEIL_LISTEN=nowhere", "VEIL_EXPECT_MEASUREMENT=zz", "VEIL_WIRE=grpc"});
  EXPECT_EQ(r.rc, 0) << r.err;
}

}  // namespace
}  // namespace veil::party_test
