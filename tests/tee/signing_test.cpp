// Signing keys: Ed25519 generated here and an ECDSA P-256 TLS key made by `openssl` both sign and
// verify; a signature does not verify under another key or over another message; key files are
// written with mode 0600; bad key files are refused naming the file.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "support/shared_assets.h"
#include "transport/tls_support.h"
#include "veil/tee/attestation.h"
#include "veil/tee/signing.h"
#include "veil/util/file_io.h"

namespace veil::tee {
namespace {
namespace fs = std::filesystem;

TEST(Signing, Ed25519RoundTripAndKeyFile) {
  const auto dir = veil::testing::scratch_dir();
  const fs::path file = dir / "session.key";
  const auto a = SigningKey::load_or_create(file);  // created
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto again = SigningKey::load_or_create(file);  // read back
  EXPECT_EQ(again.public_key(), a.public_key());
  const auto pub = VerifyKey::from_der(a.public_key());
  const auto sig = again.sign("message");
  EXPECT_TRUE(pub.verify("message", sig));
  EXPECT_FALSE(pub.verify("messagf", sig));
  EXPECT_FALSE(VerifyKey::from_der(SigningKey::generate().public_key()).verify("message", sig));
  EXPECT_FALSE(pub.verify("message", ""));
  EXPECT_EQ(VerifyKey::load_pem(file).der(), a.public_key());  // a private key file gives its public half
}

TEST(Signing, OpensslTlsKeysSignAndCertificatesVerify) {
  auto pki = veil::testing::TestPki::make("veil-signing");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  const auto owner = SigningKey::load_pem(pki.client_key);  // ECDSA P-256, as `openssl req` makes it
  const auto sig = owner.sign("bundle");
  EXPECT_TRUE(VerifyKey::load_pem(pki.client_cert).verify("bundle", sig));
  EXPECT_FALSE(VerifyKey::load_pem(pki.server_cert).verify("bundle", sig));  // another party's certificate
  EXPECT_EQ(VerifyKey::load_pem(pki.client_cert).der(), owner.public_key());
}

TEST(Signing, BadKeysRefused) {
  const auto dir = veil::testing::scratch_dir();
  util::write_file_atomic(dir / "junk.pem", std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  try {
    (void)SigningKey::load_pem(dir / "junk.pem");
    FAIL();
  } catch (const KeyError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pem"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)SigningKey::load_pem(dir / "missing.pem"), KeyError);
  EXPECT_THROW((void)VerifyKey::load_pem(dir / "junk.pem"), KeyError);
  EXPECT_THROW((void)VerifyKey::from_der("not der"), KeyError);
  EXPECT_THROW((void)VerifyKey::from_der(""), KeyError);
  // Trailing bytes after the SubjectPublicKeyInfo are refused.
  EXPECT_THROW((void)VerifyKey::from_der(SigningKey::generate().public_key() + "x"), KeyError);
}

}  // namespace
}  // namespace veil::tee
