// The local read socket against a real page store and a real Unix socket in a temp dir: hits
// come back as page files holding exactly the bytes, everything else is declined, and hostile
// input (garbage, reads before the hello, a wrong token, attached descriptors, floods of
// connections) loses its connection without hurting the server.
#include "worker/local_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/fd_passing.h"
#include "protocol/local_wire.h"
#include "temp_dir.h"
#include "understore/memory_under_store.h"

namespace epochcache::worker {
namespace {

using protocol::LocalRead;
using protocol::LocalReadAnswer;
using testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;
constexpr std::uint64_t kLargePage = std::uint64_t{256} * 1024;

std::string Bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 251);
  return s;
}

int OpenDescriptors() {
  int n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

struct ReadReply {
  LocalReadAnswer answer;
  std::vector<ScopedFd> fds;
};

class LocalServerTest : public ::testing::Test {
 protected:
  [[nodiscard]] virtual std::uint64_t PageSize() const { return kPageSize; }

  void SetUp() override {
    PageStoreOptions options;
    options.dirs.push_back({dir_.str() + "/pages", 64 << 20});
    options.page_size = PageSize();
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    service_ = std::make_unique<ReadService>(under_, *pages_);
    under_.Put("/d/f", Bytes(3 * kPageSize + 100));
  }

  void Start(LocalServerOptions options = {}) {
    options.path = dir_.str() + "/w.sock";
    options.advertised_address = "127.0.0.1:7411";
    auto server = LocalServer::Start(*service_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // Reads [offset, offset + length) of /d/f through the worker's miss path, so it is cached.
  void Warm(std::uint64_t offset, std::uint64_t length) {
    auto plan = service_->Read("/d/f", "", offset, length);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  }

  [[nodiscard]] ScopedFd Connect() const {
    ScopedFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    const sockaddr_un addr = UnixSocketAddress(server_->path()).value();
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    return fd;
  }

  static protocol::LocalHelloAnswer Hello(int fd, const std::string& token = "") {
    // A refused connection has its answer already waiting, and may be closed before this.
    (void)SendWithFds(fd, protocol::EncodeLocalHello({.token = token}), {});
    auto message = ReceiveWithFds(fd, protocol::kMaxLocalMessage, 0);
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    auto answer = protocol::DecodeLocalHelloAnswer(message.ok() ? message->bytes : "");
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : protocol::LocalHelloAnswer{};
  }

  static ReadReply Read(int fd, const LocalRead& read) {
    EXPECT_TRUE(SendWithFds(fd, protocol::EncodeLocalRead(read), {}).ok());
    auto message = ReceiveWithFds(fd, protocol::kMaxLocalMessage, protocol::kMaxLocalSegments);
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (!message.ok()) return {};
    auto answer = protocol::DecodeLocalReadAnswer(message->bytes);
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return {answer.ok() ? *answer : LocalReadAnswer{}, std::move(message->fds)};
  }

  // Bytes [offset, offset + length) of the file as an answer points at them, read with pread
  // from its descriptors; the segments must be contiguous and cover the range.
  static std::string BytesOf(const ReadReply& reply, std::uint64_t offset, std::uint64_t length) {
    std::string all;
    EXPECT_EQ(reply.answer.segments.size(), reply.fds.size());
    if (reply.fds.empty()) return all;
    const std::uint64_t start = reply.answer.segments.front().object_offset;
    for (std::size_t i = 0; i < reply.fds.size(); ++i) {
      const auto& segment = reply.answer.segments[i];
      EXPECT_EQ(segment.object_offset, start + all.size());
      std::string part(segment.length, '\0');
      EXPECT_EQ(::pread(reply.fds[i].get(), part.data(), part.size(),
                        static_cast<off_t>(segment.file_offset)),
                static_cast<ssize_t>(part.size()));
      all += part;
    }
    EXPECT_LE(start, offset);
    EXPECT_GE(start + all.size(), offset + length);
    return all.substr(offset - start, length);
  }

  // Whether the server closed `fd` (a read sees the end of the stream).
  static bool Closed(int fd) {
    char byte = 0;
    return ::recv(fd, &byte, 1, 0) == 0;
  }

  TempDir dir_;
  MemoryUnderStore under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
  std::unique_ptr<LocalServer> server_;
};

TEST_F(LocalServerTest, ACachedRangeComesBackAsPageFilesHoldingExactlyItsBytes) {
  Start();
  struct stat st {};
  ASSERT_EQ(::stat(server_->path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600U);  // the worker's own user only

  Warm(0, 3 * kPageSize + 100);
  const std::uint64_t under_reads = service_->counters().under_store_reads.load();
  auto fd = Connect();
  auto hello = Hello(fd.get());
  EXPECT_TRUE(hello.accepted);
  EXPECT_EQ(hello.address, "127.0.0.1:7411");

  const std::string want = Bytes(3 * kPageSize + 100);
  // Within a page, across three pages, and a length past the end (clipped to the size).
  for (const auto& [offset, length] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {10, 100}, {kPageSize - 5, 2 * kPageSize + 10}, {3 * kPageSize, 1000}}) {
    auto reply =
        Read(fd.get(), {.path = "/d/f", .version = "", .offset = offset, .length = length});
    ASSERT_TRUE(reply.answer.hit) << reply.answer.reason;
    // The status the HTTP stat answers, whole.
    ASSERT_TRUE(reply.answer.status.has_value());
    EXPECT_EQ(*reply.answer.status, *service_->Stat("/d/f"));
    EXPECT_EQ(reply.answer.status->size, want.size());
    const std::uint64_t clipped = std::min(length, want.size() - offset);
    EXPECT_EQ(BytesOf(reply, offset, clipped), want.substr(offset, clipped)) << offset;
    // Whole pages, which the client may keep for reads nearby.
    EXPECT_EQ(reply.answer.segments.front().object_offset % kPageSize, 0U);
    EXPECT_EQ(reply.answer.segments.back().object_offset + reply.answer.segments.back().length,
              std::min<std::uint64_t>(want.size(),
                                      (offset + clipped + kPageSize - 1) / kPageSize * kPageSize));
  }
  EXPECT_EQ(service_->counters().under_store_reads.load(), under_reads);
  EXPECT_EQ(service_->counters().local_reads.load(), 3U);
  EXPECT_EQ(service_->counters().local_read_bytes.load(), 100 + 2 * kPageSize + 10 + 100);
}

TEST_F(LocalServerTest, AnythingButAWholeHitIsDeclinedWithoutTouchingTheUnderStore) {
  LocalServerOptions options;
  options.max_read_bytes = 2 * kPageSize;
  Start(options);
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get()).accepted);
  // A decline still tells the status when the worker has it cached (a read without a version
  // is also the client's stat), and only then.
  auto declined = [&](const LocalRead& read, std::string_view why, bool tells_status) {
    auto reply = Read(fd.get(), read);
    EXPECT_FALSE(reply.answer.hit) << read.path;
    EXPECT_TRUE(reply.fds.empty());
    EXPECT_NE(reply.answer.reason.find(why), std::string::npos) << reply.answer.reason;
    EXPECT_EQ(reply.answer.status.has_value(), tells_status) << reply.answer.reason;
    if (tells_status && reply.answer.status) {
      EXPECT_EQ(*reply.answer.status, *service_->Stat(read.path));
    }
  };
  declined({.path = "/d/f", .version = "", .offset = 0, .length = 10}, "status is not cached",
           false);
  Warm(0, 10);  // the first page only
  const std::uint64_t under_reads = service_->counters().under_store_reads.load();
  declined({.path = "/d/f", .version = "", .offset = 0, .length = 2 * kPageSize}, "not every page",
           true);
  declined({.path = "/d/f", .version = "other", .offset = 0, .length = 10}, "another version",
           true);
  declined({.path = "/d/f", .version = "", .offset = 1 << 20, .length = 10}, "past the end", true);
  declined({.path = "/d/f", .version = "", .offset = 0, .length = 2 * kPageSize + 1}, "longer than",
           false);
  declined({.path = "/d/../../etc/passwd", .version = "", .offset = 0, .length = 10}, "not cached",
           false);
  declined({.path = "/d", .version = "", .offset = 0, .length = 10}, "not cached", false);
  EXPECT_EQ(service_->counters().under_store_reads.load(), under_reads);
  EXPECT_EQ(service_->counters().local_declines.load(), 7U);
  // The connection is still good for a hit.
  auto hit = Read(fd.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 10});
  EXPECT_TRUE(hit.answer.hit);
  EXPECT_EQ(BytesOf(hit, 0, 10), Bytes(10));
}

TEST_F(LocalServerTest, ATokenIsRequiredWhenTheWorkerHasOne) {
  LocalServerOptions options;
  options.auth_token = "s3cret-token";
  Start(options);
  Warm(0, 10);
  {
    auto fd = Connect();
    auto hello = Hello(fd.get());
    EXPECT_FALSE(hello.accepted);
    EXPECT_NE(hello.reason.find("requires its bearer token"), std::string::npos);
    EXPECT_TRUE(Closed(fd.get()));
  }
  {
    auto fd = Connect();
    auto hello = Hello(fd.get(), "wrong");
    EXPECT_FALSE(hello.accepted);
    EXPECT_EQ(hello.reason.find("wrong"), std::string::npos);  // never echoed
    EXPECT_TRUE(Closed(fd.get()));
  }
  {
    // A read in place of the hello gets nothing but a closed connection.
    auto fd = Connect();
    ASSERT_TRUE(SendWithFds(fd.get(),
                            protocol::EncodeLocalRead(
                                {.path = "/d/f", .version = "", .offset = 0, .length = 10}),
                            {})
                    .ok());
    EXPECT_TRUE(Closed(fd.get()));
  }
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get(), "s3cret-token").accepted);
  EXPECT_TRUE(
      Read(fd.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 10}).answer.hit);
  EXPECT_EQ(service_->counters().local_reads.load(), 1U);
}

TEST_F(LocalServerTest, HostileMessagesLoseTheirConnectionAndTheServerGoesOn) {
  Start();
  Warm(0, 10);
  const std::vector<std::string> hostile = {
      "",  // an empty message
      "GET /v1/read?path=/d/f HTTP/1.1\r\n\r\n",
      std::string(protocol::kMaxLocalMessage + 100, 'E'),
      protocol::EncodeLocalHello({.token = ""}).substr(0, 5),
      protocol::EncodeLocalHello({.token = ""}) + "trailing",
  };
  for (const auto& bytes : hostile) {
    auto fd = Connect();
    ASSERT_TRUE(SendWithFds(fd.get(), bytes, {}).ok());
    if (!bytes.empty()) {
      EXPECT_TRUE(Closed(fd.get())) << bytes.substr(0, 20);
    }
  }
  {
    // Another protocol version, after a good hello.
    auto fd = Connect();
    ASSERT_TRUE(Hello(fd.get()).accepted);
    std::string read =
        protocol::EncodeLocalRead({.path = "/d/f", .version = "", .offset = 0, .length = 10});
    read[4] = 99;
    ASSERT_TRUE(SendWithFds(fd.get(), read, {}).ok());
    EXPECT_TRUE(Closed(fd.get()));
  }
  {
    // Descriptors attached to a request are discarded, not kept by the worker.
    const int before = OpenDescriptors();
    auto fd = Connect();
    ASSERT_TRUE(Hello(fd.get()).accepted);
    const int mine = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const std::vector<int> attached(8, mine);
    ASSERT_TRUE(SendWithFds(fd.get(),
                            protocol::EncodeLocalRead(
                                {.path = "/d/f", .version = "", .offset = 0, .length = 10}),
                            attached)
                    .ok());
    EXPECT_TRUE(Closed(fd.get()));
    ::close(mine);
    fd.reset();
    EXPECT_EQ(OpenDescriptors(), before);
  }
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get()).accepted);
  auto hit = Read(fd.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 10});
  EXPECT_TRUE(hit.answer.hit);
}

TEST_F(LocalServerTest, AClientThatDoesNotReadItsAnswersLosesItsConnection) {
  Start();
  Warm(0, 10);
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get()).accepted);
  const std::string read =
      protocol::EncodeLocalRead({.path = "/d/f", .version = "", .offset = 0, .length = 10});
  ASSERT_TRUE(SendWithFds(fd.get(), read, {}).ok());
  pollfd answered{.fd = fd.get(), .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&answered, 1, 5000), 1);           // the answer waits, unread
  ASSERT_TRUE(SendWithFds(fd.get(), read, {}).ok());  // and the next request goes out
  // The worker hangs up (seen before the unread answer is taken, which would make the second
  // request look well-behaved).
  pollfd hangup{.fd = fd.get(), .events = POLLRDHUP, .revents = 0};
  for (int i = 0; i < 500 && (hangup.revents & (POLLRDHUP | POLLHUP)) == 0; ++i) {
    ASSERT_GE(::poll(&hangup, 1, 10), 0);
  }
  EXPECT_NE(hangup.revents & (POLLRDHUP | POLLHUP), 0);
  auto first = ReceiveWithFds(fd.get(), protocol::kMaxLocalMessage, protocol::kMaxLocalSegments);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->fds.size(), 1U);  // the first answer was sent
  EXPECT_TRUE(Closed(fd.get()));     // the second request was not answered
  EXPECT_EQ(service_->counters().local_reads.load(), 1U);
}

TEST_F(LocalServerTest, SilentAndIdleConnectionsAreClosed) {
  LocalServerOptions options;
  options.hello_timeout = std::chrono::milliseconds(50);
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  Warm(0, 10);
  auto silent = Connect();
  EXPECT_TRUE(Closed(silent.get()));  // no hello: closed after hello_timeout
  auto idle = Connect();
  ASSERT_TRUE(Hello(idle.get()).accepted);
  EXPECT_TRUE(
      Read(idle.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 10}).answer.hit);
  EXPECT_TRUE(Closed(idle.get()));  // then nothing for idle_timeout
}

TEST_F(LocalServerTest, ConnectionsPastTheLimitAreRefusedWithAReason) {
  LocalServerOptions options;
  options.max_connections = 3;
  Start(options);
  std::vector<ScopedFd> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(Connect());
    ASSERT_TRUE(Hello(held.back().get()).accepted);
  }
  auto extra = Connect();
  auto hello = Hello(extra.get());
  EXPECT_FALSE(hello.accepted);
  EXPECT_NE(hello.reason.find("too many"), std::string::npos);
  EXPECT_EQ(service_->counters().local_refusals.load(), 1U);
  held.pop_back();  // one leaves: a newcomer gets its place
  for (int attempt = 0;; ++attempt) {
    auto fd = Connect();
    if (Hello(fd.get()).accepted) break;
    ASSERT_LT(attempt, 100);
    ::usleep(10000);  // the server notices the hang-up on its own thread
  }
}

TEST_F(LocalServerTest, DescriptorsHandedOutKeepTheirBytesAfterThePageIsEvicted) {
  Start();
  Warm(0, 3 * kPageSize + 100);
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get()).accepted);
  auto reply =
      Read(fd.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 2 * kPageSize});
  ASSERT_TRUE(reply.answer.hit);
  auto dropped = service_->Evict("/d/f");
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 4U);
  EXPECT_EQ(BytesOf(reply, 0, 2 * kPageSize), Bytes(2 * kPageSize));
  // And the worker no longer answers from the dropped pages.
  EXPECT_FALSE(
      Read(fd.get(), {.path = "/d/f", .version = "", .offset = 0, .length = 10}).answer.hit);
}

TEST_F(LocalServerTest, AStaleSocketIsReplacedButALiveOneOrAnotherFileIsNot) {
  Start();
  const std::string path = server_->path();
  LocalServerOptions again;
  again.path = path;
  auto second = LocalServer::Start(*service_, again);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another process is serving"), std::string::npos);

  // A socket file left behind by a worker that died (no one listens): replaced.
  server_.reset();
  {
    ScopedFd stale(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    const sockaddr_un addr = UnixSocketAddress(path).value();
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  }
  auto replaced = LocalServer::Start(*service_, again);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  (*replaced)->Stop();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // removed on stop

  std::ofstream(path) << "not a socket";
  auto refused = LocalServer::Start(*service_, again);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not a socket"), std::string::npos);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);  // left alone

  again.path = "/" + std::string(200, 'x');
  EXPECT_FALSE(LocalServer::Start(*service_, again).ok());

  // A directory any user may write to (and not sticky): another user could swap the socket.
  std::filesystem::create_directories(dir_.path() / "open");
  ::chmod((dir_.path() / "open").c_str(), 0777);
  again.path = (dir_.path() / "open" / "w.sock").string();
  auto open_dir = LocalServer::Start(*service_, again);
  ASSERT_FALSE(open_dir.ok());
  EXPECT_NE(open_dir.status().message().find("writable by every user"), std::string::npos);
  ::chmod((dir_.path() / "open").c_str(), 01777);  // sticky, like /tmp: fine
  EXPECT_TRUE(LocalServer::Start(*service_, again).ok());
}

// Pages of four 64 KiB chunks, so that a page can be cached in part.
class LocalServerLargePageTest : public LocalServerTest {
 protected:
  [[nodiscard]] std::uint64_t PageSize() const override { return kLargePage; }
};

TEST_F(LocalServerLargePageTest, APageCachedInPartIsAnsweredWithJustTheRange) {
  Start();
  const std::string want = Bytes(2 * kLargePage);
  under_.Put("/d/g", want);
  ASSERT_TRUE(service_->Read("/d/g", "", 70000, 100).ok());  // the second chunk of page 0
  const std::uint64_t misses = pages_->Stats().misses;
  auto fd = Connect();
  ASSERT_TRUE(Hello(fd.get()).accepted);
  auto partial = Read(fd.get(), {.path = "/d/g", .version = "", .offset = 70000, .length = 100});
  ASSERT_TRUE(partial.answer.hit) << partial.answer.reason;
  ASSERT_EQ(partial.answer.segments.size(), 1U);
  EXPECT_EQ(partial.answer.segments[0].object_offset, 70000U);
  EXPECT_EQ(partial.answer.segments[0].length, 100U);
  EXPECT_EQ(BytesOf(partial, 70000, 100), want.substr(70000, 100));
  EXPECT_EQ(pages_->Stats().misses, misses);  // looking for whole pages counted no miss

  ASSERT_TRUE(service_->Read("/d/g", "", 0, want.size()).ok());  // now both pages, whole
  auto whole = Read(fd.get(), {.path = "/d/g", .version = "", .offset = 70000, .length = 100});
  ASSERT_TRUE(whole.answer.hit);
  ASSERT_EQ(whole.answer.segments.size(), 1U);
  EXPECT_EQ(whole.answer.segments[0].object_offset, 0U);
  EXPECT_EQ(whole.answer.segments[0].length, kLargePage);
  EXPECT_EQ(BytesOf(whole, 0, kLargePage), want.substr(0, kLargePage));
}

}  // namespace
}  // namespace epochcache::worker
