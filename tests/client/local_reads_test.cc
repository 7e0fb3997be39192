// The client's side of local reads against a real worker read service and local socket (no
// HTTP): a hit is read from the page files, anything else returns false (the caller then asks
// over HTTP), and a socket that names another worker or fails is left alone for a while.
#include "client/local_reads.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "common/fd_passing.h"
#include "protocol/local_wire.h"
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
    if (local.TryRead(topology_, host, target_, piece) == LocalReads::Outcome::kDeclined) {
      return std::nullopt;
    }
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

TEST_F(LocalReadsTest, AStatIsTheWorkersCachedStatusAndKeepsTheFirstPageForTheReadAfterIt) {
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  // Not cached on the worker beyond its status (the fixture's stat): the status alone.
  under_.Put("/d/g", Bytes(3 * kPageSize));
  EXPECT_FALSE(local.TryStat(topology_, std::string(kAddress), "/d/g"));  // never asked there
  auto g = service_->Stat("/d/g");
  ASSERT_TRUE(g.ok());
  auto told = local.TryStat(topology_, std::string(kAddress), "/d/g");
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(*told, *g);
  EXPECT_EQ(local.kept(), 0U);

  // Cached: the status, and the page around the first byte kept, so reading it needs no
  // message; bytes past that page still do.
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  const auto answered = service_->counters().local_reads.load();
  auto f = local.TryStat(topology_, std::string(kAddress), "/d/f");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, *service_->Stat("/d/f"));
  EXPECT_EQ(local.stats(), 2U);
  EXPECT_EQ(local.kept(), 1U);
  EXPECT_EQ(Read(local, 0, kPageSize), Bytes(kPageSize));
  EXPECT_EQ(local.kept_reads(), 1U);
  EXPECT_EQ(service_->counters().local_reads.load(), answered + 1);  // the stat only
  EXPECT_EQ(Read(local, kPageSize, 2 * kPageSize), Bytes(2 * kPageSize).substr(kPageSize));
  EXPECT_EQ(local.kept_reads(), 1U);

  // A file the worker has no status of, and one it never could: nothing (ask over HTTP).
  EXPECT_FALSE(local.TryStat(topology_, std::string(kAddress), "/d/missing"));
  EXPECT_FALSE(local.TryStat(topology_, std::string(kAddress), "/d/../../etc/passwd"));
  EXPECT_FALSE(local.TryStat(topology_, std::string(kAddress),
                             std::string(protocol::kMaxLocalPath + 1, 'p')));
  EXPECT_EQ(local.stats(), 2U);
  // The connection survived all of it.
  EXPECT_TRUE(local.MayServe(topology_, std::string(kAddress)));
}

TEST_F(LocalReadsTest, WhatAStatKeptIsNeverReadForAnotherVersion) {
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  ASSERT_TRUE(local.TryStat(topology_, std::string(kAddress), "/d/f"));
  // The worker learns of a new version (a read that asks for it refetches the status).
  under_.Put("/d/f", Bytes(2 * kPageSize) + "changed");
  service_->ForgetStatus("/d/f");
  auto fresh = service_->Stat("/d/f");
  ASSERT_TRUE(fresh.ok());
  ASSERT_NE(fresh->version, target_.version);
  auto told = local.TryStat(topology_, std::string(kAddress), "/d/f");
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(told->version, fresh->version);
  // What the first stat kept is the old version's: a read of the new one is not served from
  // it (nor by the worker, which has none of its pages yet).
  target_.version = fresh->version;
  target_.size = fresh->size;
  EXPECT_FALSE(Read(local, 0, 10));
  EXPECT_EQ(local.kept_reads(), 0U);
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

TEST_F(LocalReadsTest, ExpiredPageFilesAreClosedWithoutBeingReadAgain) {
  under_.Put("/d/other", Bytes(kPageSize));
  ASSERT_TRUE(service_->Read("/d/f", "", 0, 5 * kPageSize).ok());
  ASSERT_TRUE(service_->Read("/d/other", "", 0, kPageSize).ok());
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  EXPECT_TRUE(Read(local, 0, 5 * kPageSize));
  EXPECT_EQ(local.kept(), 5U);
  clock_.Advance(kKeep + std::chrono::seconds(1));
  // A read of another file drops the expired page files of the first.
  auto other = service_->Stat("/d/other");
  ASSERT_TRUE(other.ok());
  target_ = ReadTarget{
      .path = "/d/other", .request_target = "", .size = other->size, .version = other->version};
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));
  EXPECT_EQ(local.kept(), 1U);
}

TEST_F(LocalReadsTest, ARequestTooLongForTheProtocolGoesOverHttpAndKeepsTheSocket) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_, /*max_kept=*/0);
  const ReadTarget cached = target_;
  target_.path = "/d/" + std::string(protocol::kMaxLocalPath, 'x');
  EXPECT_FALSE(Read(local, 0, 10));
  EXPECT_TRUE(local.MayServe(topology_, std::string(kAddress)));
  target_ = cached;
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));
}

TEST_F(LocalReadsTest, AWorkerRestartedOnTheSamePathIsUsedAtOnce) {
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_, /*max_kept=*/0);
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));  // leaves a pooled connection
  worker::LocalServerOptions options;
  options.path = server_->path();
  options.advertised_address = std::string(kAddress);
  options.auth_token = "tok";
  server_.reset();
  auto again = worker::LocalServer::Start(*service_, options);
  ASSERT_TRUE(again.ok());
  // The pooled connection is dead; a new one is made before giving up on the socket.
  EXPECT_EQ(Read(local, 0, 10), Bytes(10));
  EXPECT_TRUE(local.MayServe(topology_, std::string(kAddress)));
}

// A process posing as the worker on its socket path (same user): it answers a hit with a
// pipe, which must not be read (a pread on it would fail; a read could wait forever).
TEST_F(LocalReadsTest, AnAnswerWithSomethingOtherThanAFileIsRefused) {
  const std::string path = (dir_ / "fake.sock").string();
  ScopedFd listener(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  const sockaddr_un addr = UnixSocketAddress(path).value();
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  std::thread fake([&] {
    ScopedFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    (void)ReceiveWithFds(conn.get(), protocol::kMaxLocalMessage, 0);
    (void)SendWithFds(conn.get(),
                      protocol::EncodeLocalHelloAnswer(
                          {.accepted = true, .address = "127.0.0.1:9999", .keep_ms = 10000}),
                      {});
    (void)ReceiveWithFds(conn.get(), protocol::kMaxLocalMessage, 0);
    std::array<int, 2> pipe_fds{};
    ASSERT_EQ(::pipe2(pipe_fds.data(), O_CLOEXEC), 0);
    protocol::LocalReadAnswer answer{
        .hit = true,
        .status = FileStatus{.path = "/d/f", .size = target_.size, .version = target_.version},
        .segments = {{0, 0, target_.size}}};
    (void)SendWithFds(conn.get(), protocol::EncodeLocalReadAnswer(answer),
                      std::span<const int>(pipe_fds.data(), 1));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
  });
  topology_.workers.push_back(WorkerRecord{"fake", "127.0.0.1:9999", 0, 0, path});
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  EXPECT_FALSE(Read(local, 0, 10, "127.0.0.1:9999"));
  EXPECT_EQ(local.kept(), 0U);
  EXPECT_FALSE(local.MayServe(topology_, "127.0.0.1:9999"));
  fake.join();
}

// Whoever holds a socket path as another user (e.g. in a shared directory while the worker is
// down) never gets the token, and nothing it sends is read.
TEST_F(LocalReadsTest, ASocketOfAnotherUserNeverGetsTheToken) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  const std::filesystem::path shared = dir_ / "shared";
  std::filesystem::create_directories(shared);
  ::chmod(dir_.c_str(), 0755);
  ::chmod(shared.c_str(), 0777);
  const std::string path = (shared / "w.sock").string();
  std::array<int, 2> report{};
  ASSERT_EQ(::pipe(report.data()), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // As nobody: listen on the path, and report how many bytes the client sent.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = UnixSocketAddress(path).value();
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) ::_exit(3);
    ::chmod(path.c_str(), 0777);
    ::listen(fd, 4);
    (void)::write(report[1], "L", 1);  // listening
    const int conn = ::accept(fd, nullptr, nullptr);
    timeval tv{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::array<char, 9000> buffer{};
    const ssize_t got = ::recv(conn, buffer.data(), buffer.size(), 0);
    const char byte = got > 0 ? 'T' : 'N';  // the token's hello, or nothing
    (void)::write(report[1], &byte, 1);
    ::_exit(0);
  }
  char ready = 0;
  ASSERT_EQ(::read(report[0], &ready, 1), 1);
  topology_.workers[0].local_socket = path;
  topology_.generation = 2;
  LocalReads local("tok", std::chrono::milliseconds(5000), clock_);
  ASSERT_TRUE(service_->Read("/d/f", "", 0, kPageSize).ok());
  EXPECT_FALSE(Read(local, 0, 10));
  char sent = 0;
  ASSERT_EQ(::read(report[0], &sent, 1), 1);
  EXPECT_EQ(sent, 'N');
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(report[0]);
  ::close(report[1]);
}

}  // namespace
}  // namespace epochcache::client
