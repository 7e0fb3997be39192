#include "epochcache/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "client/http_pool.h"
#include "client/percent_encode.h"
#include "client/placement.h"
#include "fake_worker.h"

namespace epochcache {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorker;

std::string RandomBytes(std::size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

std::unique_ptr<Client> MakeClient(std::vector<std::string> hosts, std::uint64_t piece_size = 1000,
                                   std::size_t parallel = 16,
                                   std::chrono::milliseconds request_timeout = 5000ms) {
  ClientOptions options;
  options.worker_hosts = std::move(hosts);
  options.piece_size = piece_size;
  options.max_parallel_requests = parallel;
  options.request_timeout = request_timeout;
  options.connect_timeout = 2000ms;
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

Result<std::string> ReadString(Client& client, const std::string& path, std::uint64_t offset,
                               std::size_t length) {
  std::string buf(length, '\0');
  auto n = client.Read(path, offset, std::as_writable_bytes(std::span(buf.data(), buf.size())));
  if (!n.ok()) return n.status();
  buf.resize(*n);
  return buf;
}

// A port nothing listens on: bind one, then close it.
int UnusedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

TEST(PercentEncodeTest, UnreservedPassOthersEncoded) {
  EXPECT_EQ(client::PercentEncodeQueryComponent("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(client::PercentEncodeQueryComponent("s3://b/k x&y=%"),
            "s3%3A%2F%2Fb%2Fk%20x%26y%3D%25");
  EXPECT_EQ(client::PercentEncodeQueryComponent("\xC3\xA9"), "%C3%A9");
}

TEST(PlacementTest, SpreadsPiecesAndIsStable) {
  client::Placement placement({"a:1", "b:2", "c:3", "d:4"});
  std::map<std::string, int> counts;
  for (std::uint64_t piece = 0; piece < 4000; ++piece) counts[placement.Pick("/f", piece)]++;
  ASSERT_EQ(counts.size(), 4U);
  for (const auto& [host, n] : counts) EXPECT_GT(n, 800) << host;
  // Removing a worker only moves the pieces it owned.
  client::Placement fewer({"a:1", "b:2", "c:3"});
  for (std::uint64_t piece = 0; piece < 1000; ++piece) {
    const auto& before = placement.Pick("/f", piece);
    if (before != "d:4") {
      EXPECT_EQ(fewer.Pick("/f", piece), before);
    }
  }
}

TEST(HostPortTest, Parses) {
  auto hp = client::SplitHostPort("127.0.0.1:80");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, "80");
  hp = client::SplitHostPort("[::1]:9000");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_FALSE(client::SplitHostPort("nohost").ok());
  EXPECT_FALSE(client::SplitHostPort("host:").ok());
  EXPECT_FALSE(client::SplitHostPort("host:x1").ok());
}

TEST(ClientTest, CreateRejectsBadOptions) {
  EXPECT_EQ(Client::Create(ClientOptions{}).status().code(), StatusCode::kInvalidArgument);
  ClientOptions options;
  options.worker_hosts = {"localhost"};
  EXPECT_EQ(Client::Create(options).status().code(), StatusCode::kInvalidArgument);
}

TEST(ClientTest, StatAndList) {
  FakeWorker worker;
  worker.PutFile("/d/a", "hello");
  worker.PutFile("/d/b", "");
  auto client = MakeClient({worker.address()});
  auto st = client->Stat("/d/a");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->path, "/d/a");
  EXPECT_EQ(st->size, 5U);
  EXPECT_FALSE(st->is_directory);
  EXPECT_EQ(st->version, "v1");
  auto entries = client->List("/d", false);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2U);
  EXPECT_EQ((*entries)[1].path, "/d/b");
  auto missing = client->Stat("/d/zzz");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/d/zzz"), std::string::npos);
  auto stats = client->WorkerStats(worker.address());
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->find("requests"), std::string::npos);
}

TEST(ClientTest, ReadsArbitraryRangesAcrossPieces) {
  FakeWorker worker1;
  FakeWorker worker2;
  const std::string data = RandomBytes(10'000);
  worker1.PutFile("/x/data.bin", data);
  worker2.PutFile("/x/data.bin", data);
  auto client = MakeClient({worker1.address(), worker2.address()}, /*piece_size=*/1000);
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t offset = rng() % 10'500;
    const std::size_t length = rng() % 4'000;
    auto got = ReadString(*client, "/x/data.bin", offset, length);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const std::string want = offset >= data.size() ? "" : data.substr(offset, length);
    ASSERT_EQ(*got, want) << "offset " << offset << " length " << length;
  }
  // Both workers served pieces.
  EXPECT_GT(worker1.reads.load(), 0);
  EXPECT_GT(worker2.reads.load(), 0);
  // The whole file, and exact piece boundaries.
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 0, 20'000), data);
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 1000, 1000), data.substr(1000, 1000));
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 999, 2), data.substr(999, 2));
}

TEST(ClientTest, ClipsAtEndOfFile) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  worker.PutFile("/empty", "");
  auto client = MakeClient({worker.address()}, 4);
  EXPECT_EQ(*ReadString(*client, "/f", 8, 100), "89");
  EXPECT_EQ(*ReadString(*client, "/f", 10, 5), "");
  EXPECT_EQ(*ReadString(*client, "/f", 1'000'000, 5), "");
  EXPECT_EQ(*ReadString(*client, "/empty", 0, 5), "");
  EXPECT_EQ(ReadString(*client, "/missing", 0, 5).status().code(), StatusCode::kNotFound);
}

TEST(ClientTest, PiecesGoOutInParallel) {
  FakeWorker worker;
  worker.PutFile("/big", RandomBytes(8000));
  worker.read_delay_ms = 300;
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/8);
  const auto start = std::chrono::steady_clock::now();
  auto got = ReadString(*client, "/big", 0, 8000);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(worker.reads.load(), 8);
  EXPECT_GE(worker.max_reads_in_flight.load(), 4);
  // Serially this would take 2.4 s.
  EXPECT_LT(elapsed, 2s);
}

TEST(ClientTest, MaxParallelRequestsIsABound) {
  FakeWorker worker;
  worker.PutFile("/big", RandomBytes(8000));
  worker.read_delay_ms = 50;
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/2);
  ASSERT_TRUE(ReadString(*client, "/big", 0, 8000).ok());
  EXPECT_LE(worker.max_reads_in_flight.load(), 2);
}

TEST(ClientTest, StalledWorkerTimesOut) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  auto client = MakeClient({worker.address()}, 1000, 16, /*request_timeout=*/300ms);
  ASSERT_TRUE(client->Stat("/f").ok());
  worker.read_delay_ms = 10'000;
  const auto start = std::chrono::steady_clock::now();
  auto got = ReadString(*client, "/f", 0, 10);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got.status().code(), StatusCode::kTimeout) << got.status().ToString();
  EXPECT_NE(got.status().message().find(worker.address()), std::string::npos);
  EXPECT_LT(elapsed, 3s);
  // The worker recovers; so does the client.
  worker.read_delay_ms = 0;
  EXPECT_EQ(*ReadString(*client, "/f", 2, 3), "234");
}

TEST(ClientTest, FailedPieceDropsThePiecesStillQueued) {
  FakeWorker worker;
  worker.PutFile("/f", RandomBytes(20'000));
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/2, /*request_timeout=*/300ms);
  ASSERT_TRUE(client->Stat("/f").ok());
  worker.read_delay_ms = 10'000;
  const auto start = std::chrono::steady_clock::now();
  auto got = ReadString(*client, "/f", 0, 20'000);
  // Twenty pieces two at a time would take ten timeouts (3 s) if the queue were not dropped.
  EXPECT_EQ(got.status().code(), StatusCode::kTimeout) << got.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_LE(worker.reads.load(), 4);
}

TEST(ClientTest, StalledStatTimesOut) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  worker.stat_delay_ms = 10'000;
  auto client = MakeClient({worker.address()}, 1000, 16, /*request_timeout=*/200ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client->Stat("/f").status().code(), StatusCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(ClientTest, UnreachableWorkerIsNamed) {
  const std::string address = "127.0.0.1:" + std::to_string(UnusedPort());
  auto client = MakeClient({address});
  auto st = client->Stat("/data/x");
  ASSERT_EQ(st.status().code(), StatusCode::kUnavailable) << st.status().ToString();
  EXPECT_NE(st.status().message().find("worker " + address + " unreachable"), std::string::npos)
      << st.status().message();
  EXPECT_NE(st.status().message().find("/data/x"), std::string::npos);
  EXPECT_EQ(ReadString(*client, "/data/x", 0, 10).status().code(), StatusCode::kUnavailable);
}

TEST(ClientTest, ChangedFileIsRestatedAndReadAgain) {
  FakeWorker worker;
  worker.PutFile("/f", "old contents");
  auto client = MakeClient({worker.address()}, 4);
  EXPECT_EQ(*ReadString(*client, "/f", 0, 100), "old contents");
  // The stat cache still says v1 with 12 bytes; the worker now has v2.
  worker.PutFile("/f", "brand new contents!");
  auto got = ReadString(*client, "/f", 0, 100);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "brand new contents!");
  EXPECT_GT(worker.conflicts.load(), 0);
  EXPECT_EQ(worker.stats.load(), 2);
}

TEST(ClientTest, WorkerErrorKeepsCodeAndMessage) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  auto client = MakeClient({worker.address()});
  worker.fail_reads_with_500 = 1;
  auto got = ReadString(*client, "/f", 0, 10);
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_EQ(got.status().message(), "injected failure reading /f");
  EXPECT_EQ(*ReadString(*client, "/f", 0, 10), "0123456789");
}

TEST(ClientTest, ConnectionClosedMidBodyFailsThenRecovers) {
  FakeWorker worker;
  worker.PutFile("/f", RandomBytes(5000));
  auto client = MakeClient({worker.address()}, 10'000);
  worker.close_mid_body = 1;
  auto got = ReadString(*client, "/f", 0, 5000);
  EXPECT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_EQ(*ReadString(*client, "/f", 0, 5000), RandomBytes(5000));
}

TEST(ClientTest, KeepAliveConnectionsAreReused) {
  FakeWorker worker;
  worker.PutFile("/f", RandomBytes(3000));
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/1);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ReadString(*client, "/f", 0, 3000).ok());
    ASSERT_TRUE(client->Stat("/f").ok());
  }
  EXPECT_EQ(worker.reads.load(), 60);
  EXPECT_EQ(worker.accepted.load(), 1);
}

TEST(ClientTest, StaleKeepAliveConnectionIsRetriedOnAFreshOne) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  worker.close_after_response = true;
  auto client = MakeClient({worker.address()}, 1000, 1);
  for (int i = 0; i < 5; ++i) {
    auto got = ReadString(*client, "/f", 0, 10);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
  }
  EXPECT_GE(worker.accepted.load(), 5);
}

TEST(ClientTest, ConcurrentCallersShareTheClient) {
  FakeWorker worker;
  const std::string data = RandomBytes(50'000);
  worker.PutFile("/f", data);
  auto client = MakeClient({worker.address()}, 4096, 8);
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 30; ++i) {
        const std::uint64_t offset = rng() % 50'000;
        const std::size_t length = rng() % 20'000;
        auto got = ReadString(*client, "/f", offset, length);
        if (!got.ok() || *got != data.substr(offset, length)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ClientTest, PathsArePercentEncoded) {
  FakeWorker worker;
  const std::string path = "/data/a b&c=d%e/ü.parquet";
  worker.PutFile(path, "xyz");
  auto client = MakeClient({worker.address()});
  EXPECT_EQ(*ReadString(*client, path, 0, 3), "xyz");
}

}  // namespace
}  // namespace epochcache
