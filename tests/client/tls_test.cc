// HTTPS to workers: the chain is verified against tls_ca and the certificate must name the
// worker's address. Certificates are made by the openssl command line for each run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "epochcache/client.h"
#include "fake_worker.h"
#include "test_client.h"

namespace epochcache {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorker;
using testing::FakeWorkerTls;
using testing::ReadString;

// Two CAs and worker certificates they signed, in a fresh directory.
class Pki {
 public:
  Pki() {
    std::string templ = (std::filesystem::temp_directory_path() / "ec-tls-XXXXXX").string();
    if (mkdtemp(templ.data()) != nullptr) dir_ = templ;
  }
  ~Pki() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

  [[nodiscard]] bool ok() const { return !dir_.empty() && ok_; }
  [[nodiscard]] std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // A self-signed CA: NAME.pem, NAME.key.
  void MakeCa(const std::string& name) {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=" +
        name + " -keyout " + Path(name + ".key") + " -out " + Path(name + ".pem"));
  }

  // A worker certificate signed by `ca`, with subjectAltName `san` ("IP:127.0.0.1,...").
  FakeWorkerTls Issue(const std::string& name, const std::string& ca, const std::string& san) {
    std::ofstream(Path(name + ".ext")) << "subjectAltName=" << san << "\n";
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name +
        " -keyout " + Path(name + ".key") + " -out " + Path(name + ".csr"));
    Run("openssl x509 -req -days 1 -in " + Path(name + ".csr") + " -CA " + Path(ca + ".pem") +
        " -CAkey " + Path(ca + ".key") + " -CAcreateserial -extfile " + Path(name + ".ext") +
        " -out " + Path(name + ".pem"));
    return FakeWorkerTls{Path(name + ".pem"), Path(name + ".key")};
  }

 private:
  void Run(const std::string& command) {
    // NOLINTNEXTLINE(cert-env33-c,concurrency-mt-unsafe): test set-up, one thread, fixed text
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) ok_ = false;
  }

  std::filesystem::path dir_;
  bool ok_ = true;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki();  // NOLINT(cppcoreguidelines-owning-memory): freed in TearDownTestSuite
    pki_->MakeCa("ca");
    pki_->MakeCa("other-ca");
    good_ = pki_->Issue("worker", "ca", "IP:127.0.0.1,DNS:localhost");
    elsewhere_ = pki_->Issue("elsewhere", "ca", "IP:127.0.0.2,DNS:elsewhere.test");
  }
  static void TearDownTestSuite() {
    delete pki_;  // NOLINT(cppcoreguidelines-owning-memory)
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->ok()) << "openssl could not make the certificates"; }

  static ClientOptions Options(const std::string& address, const std::string& ca) {
    ClientOptions options;
    options.worker_hosts = {address};
    options.piece_size = 1000;
    options.block_size = 4000;
    options.request_timeout = 5000ms;
    options.connect_timeout = 2000ms;
    options.tls_ca = ca;
    return options;
  }

  static std::unique_ptr<Client> Make(ClientOptions options) {
    auto client = Client::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  static inline Pki* pki_ = nullptr;
  static inline FakeWorkerTls good_;
  static inline FakeWorkerTls elsewhere_;
};

std::string Data(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 131) % 251);
  return out;
}

TEST_F(TlsTest, ReadsWithTheRightCaAndSendsTheToken) {
  FakeWorker w(good_);
  w.RequireToken("tls-token");
  const std::string data = Data(7500);
  w.PutFile("/d/f", data);
  ClientOptions options = Options(w.address(), pki_->Path("ca.pem"));
  options.auth_token = "tls-token";
  auto client = Make(std::move(options));
  ASSERT_NE(client, nullptr);
  auto got = ReadString(*client, "/d/f", 0, data.size());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  auto listed = client->List("/d", false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 1U);
  EXPECT_EQ(w.tls_handshake_failures.load(), 0);
  EXPECT_EQ(w.unauthorized.load(), 0);
  // Connections are kept: far fewer handshakes than requests (stat, 8 pieces, list).
  EXPECT_LE(w.accepted.load(), 8);
}

TEST_F(TlsTest, HostNameIsVerifiedToo) {
  FakeWorker w(good_);
  w.PutFile("/f", "over a name");
  const std::string port = w.address().substr(w.address().rfind(':') + 1);
  auto client = Make(Options("localhost:" + port, pki_->Path("ca.pem")));
  ASSERT_NE(client, nullptr);
  auto got = ReadString(*client, "/f", 0, 100);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "over a name");
}

TEST_F(TlsTest, WrongCaFailsWithAClearError) {
  FakeWorker w(good_);
  w.PutFile("/f", "secret bytes");
  auto client = Make(Options(w.address(), pki_->Path("other-ca.pem")));
  ASSERT_NE(client, nullptr);
  auto st = client->Stat("/f");
  // Final: an unverified worker is not tried around (nor the store read directly instead).
  ASSERT_EQ(st.status().code(), StatusCode::kUnauthenticated) << st.status().ToString();
  const std::string msg = st.status().message();
  EXPECT_NE(msg.find(w.address()), std::string::npos) << msg;
  EXPECT_NE(msg.find("failed TLS verification"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tls_ca"), std::string::npos) << msg;
  EXPECT_EQ(w.stats.load(), 0);  // nothing was asked of an unverified worker
}

TEST_F(TlsTest, CertificateForAnotherAddressIsRefused) {
  FakeWorker w(elsewhere_);
  w.PutFile("/f", "x");
  auto client = Make(Options(w.address(), pki_->Path("ca.pem")));
  ASSERT_NE(client, nullptr);
  auto st = client->Stat("/f");
  ASSERT_EQ(st.status().code(), StatusCode::kUnauthenticated) << st.status().ToString();
  EXPECT_NE(st.status().message().find("mismatch"), std::string::npos) << st.status().message();
  EXPECT_EQ(w.stats.load(), 0);
}

TEST_F(TlsTest, PlainWorkerIsAnErrorNotAFallbackToPlainText) {
  FakeWorker w;
  w.PutFile("/f", "x");
  auto client = Make(Options(w.address(), pki_->Path("ca.pem")));
  ASSERT_NE(client, nullptr);
  auto st = client->Stat("/f");
  ASSERT_EQ(st.status().code(), StatusCode::kUnavailable) << st.status().ToString();
  EXPECT_NE(st.status().message().find("TLS handshake failed"), std::string::npos)
      << st.status().message();
  EXPECT_EQ(w.stats.load(), 0);
}

TEST_F(TlsTest, UnreadableCaBundleIsRefusedAtCreation) {
  auto client = Client::Create(Options("127.0.0.1:1", pki_->Path("no-such-ca.pem")));
  ASSERT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("no-such-ca.pem"), std::string::npos)
      << client.status().message();
}

}  // namespace
}  // namespace epochcache
