// The client's side of local reads against a real worker read service and local socket (no
// HTTP): a hit is read from the page files, anything else returns false (the caller then asks
// over HTTP), and a socket that names another worker or fails is left alone for a while.
#include "client/local_reads.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "support/manual_clock.h"
#include "understore/memory_under_store.h"
#include "worker/local_server.h"

namespace epochcache::client {
namespace {

constexpr std::uint64_t kPageSize = 4096;
constexpr std::string_view kAddress = "127.0.0.1:7411";
constexpr std::chrono::milliseconds kKeep{10000};

std::string Bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 251);
  return s;
}

class LocalReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() / ("ec-local-" + std::to_string(random()));
    std::filesystem::create_directories(dir_);
    PageStoreOptions options;
    options.dirs.push_back({(dir_ / "pages").string(), 64 << 20});
    options.page_size = kPageSize;
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    service_ = std::make_unique<worker::ReadService>(under_, *pages_);
    under_.Put("/d/f", Bytes(5 * kPageSize));
    auto status = service_->Stat("/d/f");
    ASSERT_TRUE(status.ok());
    target_ = ReadTarget{
        .path = "/d/f", .request_target = "", .size = status->size, .version = status->version};
    worker::LocalServerOptions server_options;
    server_options.path = (dir_ / "w.sock").string();
    server_options.advertised_address = std::string(kAddress);
    server_options.auth_token = "tok";
    server_options.keep = kKeep;
    auto server = worker::LocalServer::Start(*service_, server_options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    topology_.generation = 1;
    topology_.workers.push_back(
        WorkerRecord{"w", std::string(kAddress), 0, 0, server_options.path});
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Reads [a, b) of /d/f through `local` from worker `host`; the bytes, or nullopt if declined.
  std::optional<std::string> Read(LocalReads& local, std::uint64_t a, std::uint64_t b,
                                  const std::string& host = std::string(kAddress)) {
    std::string out(b - a, '\0');
    const Piece piece{a, b, std::as_writable_bytes(std::span(out))};
    if (!local.TryRead(topology_, host, target_, piece)) return std::nullopt;
    return out;
  }

  std::filesystem::path dir_;
  MemoryUnderStore under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<worker::ReadService> service_;
  std::unique_ptr<worker::LocalServer> server_;
  Topology topology_;
  ReadTarget target_;
  testing::ManualClock clock_;
};

TEST_F(LocalReadsTest, AHitIsReadFromThePageFilesAndAMissIsLeftToHttp) {
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  EXPECT_TRUE(local.MayServe(topology_, std::string(kAddress)));
  EXPECT_FALSE(Read(local, 0, 100));  // nothing cached yet
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  const std::string want = Bytes(5 * kPageSize);
  EXPECT_EQ(Read(local, 0, 100), want.substr(0, 100));
  EXPECT_EQ(Read(local, kPageSize - 1, 4 * kPageSize + 7),
            want.substr(kPageSize - 1, 3 * kPageSize + 8));
  EXPECT_EQ(local.reads(), 2U);
  EXPECT_EQ(local.bytes(), 100 + 3 * kPageSize + 8);
  EXPECT_EQ(service_->counters().local_reads.load(), 2U);
  EXPECT_EQ(local.kept_reads(), 0U);

  // Another version than the one the reader holds: declined, the caller goes to HTTP.
  target_.version = "not-this-one";
  EXPECT_FALSE(Read(local, 0, 100));
  // A worker without a socket is never asked.
  EXPECT_FALSE(local.MayServe(topology_, "127.0.0.1:9"));
}

TEST_F(LocalReadsTest, KeptPageFilesServeNearbyReadsUntilTheWorkersKeepTimeIsUp) {
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  const std::string want = Bytes(5 * kPageSize);
  EXPECT_EQ(Read(local, 10, 20), want.substr(10, 10));  // asks the worker: page 0 is kept
  EXPECT_EQ(local.kept(), 1U);
  // Anywhere in page 0, with no message to the worker; across into page 1, the worker again.
  EXPECT_EQ(Read(local, 0, kPageSize), want.substr(0, kPageSize));
  EXPECT_EQ(Read(local, 4000, 4096), want.substr(4000, 96));
  EXPECT_EQ(service_->counters().local_reads.load(), 1U);
  EXPECT_EQ(local.kept_reads(), 2U);
  EXPECT_EQ(Read(local, 4000, 4200), want.substr(4000, 200));
  EXPECT_EQ(service_->counters().local_reads.load(), 2U);
  EXPECT_EQ(local.kept(), 2U);
  EXPECT_EQ(Read(local, 100, 5000), want.substr(100, 4900));  // both kept pages
  EXPECT_EQ(local.kept_reads(), 3U);

  // Evicted by the worker: the kept descriptors still hold the bytes they were handed.
  ASSERT_TRUE(service_->Evict("/d/f").ok());
  EXPECT_EQ(Read(local, 0, 2 * kPageSize), want.substr(0, 2 * kPageSize));
  EXPECT_EQ(local.kept_reads(), 4U);

  // Past the worker's keep time they are dropped, and the worker (which no longer has the
  // pages) declines: the caller would go over HTTP.
  clock_.Advance(kKeep);
  EXPECT_FALSE(Read(local, 0, 100));
  EXPECT_EQ(local.kept_reads(), 4U);

  // Another version of the file is another key: never served from kept page files.
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  EXPECT_EQ(Read(local, 0, 100), want.substr(0, 100));
  target_.version = "v2";
  EXPECT_FALSE(Read(local, 0, 100));
}

TEST_F(LocalReadsTest, KeptPageFilesAreBoundedAndNotKeptWhenTheWorkerSaysSo) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_, /*max_kept=*/2);
  for (std::uint64_t page = 0; page < 5; ++page) {
    EXPECT_EQ(Read(local, page * kPageSize, page * kPageSize + 10),
              Bytes(5 * kPageSize).substr(page * kPageSize, 10));
  }
  EXPECT_EQ(local.kept(), 2U);
  EXPECT_EQ(Read(local, 4 * kPageSize, 4 * kPageSize + 1),
            Bytes(4 * kPageSize + 1).substr(4 * kPageSize));
  EXPECT_EQ(local.kept_reads(), 1U);  // the most recent page stayed

  // A worker that verifies every read (--page-verify-interval 0) lets nothing be kept.
  server_.reset();
  worker::LocalServerOptions options;
  options.path = (dir_ / "w.sock").string();
  options.advertised_address = std::string(kAddress);
  options.auth_token = "tok";
  options.keep = std::chrono::milliseconds(0);
  auto server = worker::LocalServer::Start(*service_, options);
  ASSERT_TRUE(server.ok());
  LocalReads unkept("tok", std::chrono::milliseconds(5000), clock_);
  EXPECT_EQ(Read(unkept, 0, 10), Bytes(10));
  EXPECT_EQ(Read(unkept, 0, 10), Bytes(10));
  EXPECT_EQ(unkept.kept(), 0U);
  EXPECT_EQ(unkept.kept_reads(), 0U);
}

TEST_F(LocalReadsTest, ASocketOfAnotherWorkerOrAWrongTokenIsNotUsed) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  // The record of another address names this socket: its hello says it is kAddress.
  topology_.workers.push_back(
      WorkerRecord{"w2", "127.0.0.1:7412", 0, 0, topology_.workers[0].local_socket});
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  EXPECT_FALSE(Read(local, 0, 10, "127.0.0.1:7412"));
  EXPECT_FALSE(local.MayServe(topology_, "127.0.0.1:7412"));  // left alone for a while
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));                   // the right worker still is used

  LocalReads wrong_token("nope", std::chrono::milliseconds(5000), clock_);
  EXPECT_FALSE(Read(wrong_token, 0, 10));
  EXPECT_FALSE(wrong_token.MayServe(topology_, std::string(kAddress)));
  EXPECT_EQ(wrong_token.reads(), 0U);
}

TEST_F(LocalReadsTest, AWorkerThatGoesAwayIsLeftToHttpAndANewRecordIsTriedAgain) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  // Nothing kept: every read is an exchange on a connection.
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_, /*max_kept=*/0);
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));
  const std::string path = server_->path();
  server_->Stop();
  EXPECT_FALSE(Read(local, 0, 10));  // the pooled connection is dead, and so is the socket
  EXPECT_FALSE(local.MayServe(topology_, std::string(kAddress)));

  // The worker comes back (a new membership generation): its socket is tried at once.
  worker::LocalServerOptions options;
  options.path = path;
  options.advertised_address = std::string(kAddress);
  options.auth_token = "tok";
  auto again = worker::LocalServer::Start(*service_, options);
  ASSERT_TRUE(again.ok());
  topology_.generation = 2;
  topology_.workers[0].local_socket = path + "2";  // a new path makes a new channel
  EXPECT_FALSE(Read(local, 0, 10));                // nothing listens there
  topology_.generation = 3;
  topology_.workers[0].local_socket = path;
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));
}

TEST_F(LocalReadsTest, AForkedChildNeverUsesItsParentsConnection) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  // Nothing kept: every read is an exchange on a connection.
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_, /*max_kept=*/0);
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));  // leaves a pooled connection
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // In the child: reads work (on connections of its own) and leave the parent's alone.
    bool ok = true;
    for (int i = 0; i < 20; ++i) ok = ok && Read(local, i, i + 10) == Bytes(i + 10).substr(i);
    ::_exit(ok ? 0 : 1);
  }
  // The parent reads on its pooled connection meanwhile; answers never cross.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Read(local, i, i + 10), Bytes(i + 10).substr(i));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace epochcache::client
