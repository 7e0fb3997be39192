#include "epochcache/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "client/create_client.h"
#include "client/http_pool.h"
#include "fake_worker.h"
#include "support/manual_clock.h"
#include "test_client.h"
#include "understore/memory_under_store.h"

namespace epochcache {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorker;
using testing::ReadString;
using testing::SmallPieceOptions;

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
  options.block_size = piece_size * 2;
  options.max_parallel_requests = parallel;
  options.request_timeout = request_timeout;
  options.connect_timeout = 2000ms;
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

// A port nothing listens on: bind one, then close it.
int UnusedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
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
  // Each worker served pieces exactly when it owns blocks of the file (placement hashes the
  // workers' ports, so by chance one worker may own all five blocks).
  std::set<std::string> owners;
  for (std::uint64_t block = 0; block < 5; ++block) {
    owners.insert(client->Locate("/x/data.bin", block, 1)[0]);
  }
  EXPECT_EQ(worker1.reads.load() > 0, owners.contains(worker1.address()));
  EXPECT_EQ(worker2.reads.load() > 0, owners.contains(worker2.address()));
  // The whole file, and exact piece boundaries.
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 0, 20'000), data);
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 1000, 1000), data.substr(1000, 1000));
  EXPECT_EQ(*ReadString(*client, "/x/data.bin", 999, 2), data.substr(999, 2));
}

TEST(ClientTest, ReadNoLongerThanAPieceIsOneRequestAcrossBoundaries) {
  FakeWorker worker;
  const std::string data = RandomBytes(10'000);
  worker.PutFile("/f", data);
  // Pieces of 1000 bytes in blocks of 2000, one worker: both blocks have the same workers.
  auto client = MakeClient({worker.address()}, 1000);
  EXPECT_EQ(*ReadString(*client, "/f", 900, 200), data.substr(900, 200));      // piece boundary
  EXPECT_EQ(*ReadString(*client, "/f", 1500, 1000), data.substr(1500, 1000));  // block boundary
  EXPECT_EQ(worker.ReadOffsets(), (std::vector<std::uint64_t>{900, 1500}));
  // Longer than a piece: split at the piece boundaries as before.
  EXPECT_EQ(*ReadString(*client, "/f", 3900, 1200), data.substr(3900, 1200));
  auto offsets = worker.ReadOffsets();
  std::sort(offsets.begin(), offsets.end());
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{900, 1500, 3900, 4000, 5000}));
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
  const std::string data = RandomBytes(8000);
  worker.PutFile("/big", data);
  // No read is answered before eight are in flight at once: a client that sent the pieces one
  // after another would time out here.
  worker.HoldReadsUntilConcurrent(8);
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/8);
  auto got = ReadString(*client, "/big", 0, 8000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(worker.reads.load(), 8);
  EXPECT_EQ(worker.max_reads_in_flight.load(), 8);
}

TEST(ClientTest, MaxParallelRequestsIsABound) {
  FakeWorker worker;
  worker.PutFile("/big", RandomBytes(8000));
  // The first two reads wait for each other, so the client has every chance to send more.
  worker.HoldReadsUntilConcurrent(2);
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/2);
  ASSERT_TRUE(ReadString(*client, "/big", 0, 8000).ok());
  EXPECT_EQ(worker.max_reads_in_flight.load(), 2);
}

TEST(ClientTest, StalledWorkerTimesOut) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  auto client = MakeClient({worker.address()}, 1000, 16, /*request_timeout=*/300ms);
  ASSERT_TRUE(client->Stat("/f").ok());
  worker.StallReads(true);
  auto got = ReadString(*client, "/f", 0, 10);
  EXPECT_EQ(got.status().code(), StatusCode::kTimeout) << got.status().ToString();
  EXPECT_NE(got.status().message().find(worker.address()), std::string::npos);
  // The worker recovers; so does the client.
  worker.StallReads(false);
  EXPECT_EQ(*ReadString(*client, "/f", 2, 3), "234");
}

TEST(ClientTest, FailedPieceDropsThePiecesStillQueued) {
  FakeWorker worker;
  worker.PutFile("/f", RandomBytes(20'000));
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/2, /*request_timeout=*/300ms);
  ASSERT_TRUE(client->Stat("/f").ok());
  worker.StallReads(true);
  auto got = ReadString(*client, "/f", 0, 20'000);
  // Twenty pieces two at a time: had the queue not been dropped when the first two timed
  // out, all twenty would have been sent.
  EXPECT_EQ(got.status().code(), StatusCode::kTimeout) << got.status().ToString();
  EXPECT_LE(worker.reads.load(), 4);
}

TEST(ClientTest, StalledStatTimesOut) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  worker.StallStats(true);
  auto client = MakeClient({worker.address()}, 1000, 16, /*request_timeout=*/200ms);
  EXPECT_EQ(client->Stat("/f").status().code(), StatusCode::kTimeout);
  worker.StallStats(false);
  EXPECT_TRUE(client->Stat("/f").ok());
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

TEST(ClientTest, ReadSizedSizesTheBufferByTheVersionItReads) {
  FakeWorker worker;
  worker.PutFile("/f", "old contents");
  auto client = MakeClient({worker.address()}, 4);
  ASSERT_TRUE(client->Stat("/f").ok());
  // The stat cache says 12 bytes; the file grew to 19: the buffer sized for the old version is
  // given up and one of the new size is asked for, within the client's own retry.
  worker.PutFile("/f", "brand new contents!");
  std::vector<std::size_t> asked;
  std::string buf;
  auto got =
      client->ReadSized("/f", 2, std::numeric_limits<std::uint64_t>::max(), [&](std::size_t n) {
        asked.push_back(n);
        buf.assign(n, '\0');
        return std::as_writable_bytes(std::span(buf.data(), n));
      });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, 17U);
  EXPECT_EQ(buf, "and new contents!");
  EXPECT_EQ(asked, (std::vector<std::size_t>{10, 17}));
  // Past the end: an empty buffer, no read.
  const int reads = worker.reads.load();
  asked.clear();
  got = client->ReadSized("/f", 100, 5, [&](std::size_t n) {
    asked.push_back(n);
    buf.assign(n, '\0');
    return std::as_writable_bytes(std::span(buf.data(), n));
  });
  EXPECT_EQ(*got, 0U);
  EXPECT_EQ(asked, (std::vector<std::size_t>{0}));
  EXPECT_EQ(worker.reads.load(), reads);
  // A buffer of the wrong size is refused, not overrun.
  got = client->ReadSized("/f", 0, 5, [&](std::size_t) {
    buf.assign(2, '\0');
    return std::as_writable_bytes(std::span(buf.data(), 2));
  });
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
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
  // One connection for the requests made on the calling thread (the stat, each read's first
  // piece) and one for the pieces sent from the I/O threads.
  EXPECT_LE(worker.accepted.load(), 2);
}

TEST(ClientTest, OnePieceReadsFromManyThreadsReuseTheirConnections) {
  FakeWorker worker;
  const std::string data = RandomBytes(8000);
  worker.PutFile("/f", data);
  auto client = MakeClient({worker.address()}, 10'000, /*parallel=*/4);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::uint64_t offset =
            (static_cast<std::uint64_t>(t) * 997 + static_cast<std::uint64_t>(i) * 131) % 7000;
        auto got = ReadString(*client, "/f", offset, 1000);
        if (!got.ok() || *got != data.substr(offset, 1000)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(worker.reads.load(), 100);
  // Never more connections than requests in flight at once.
  EXPECT_LE(worker.accepted.load(), 4);
}

TEST(ClientTest, OnePieceReadsFromManyThreadsStayWithinMaxParallelRequests) {
  FakeWorker worker;
  worker.PutFile("/f", RandomBytes(1000));
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/2);
  ASSERT_TRUE(client->Stat("/f").ok());
  // The first two reads wait for each other: six callers have every chance to exceed two.
  worker.HoldReadsUntilConcurrent(2);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  threads.reserve(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      if (!ReadString(*client, "/f", 0, 1000).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(worker.max_reads_in_flight.load(), 2);
}

TEST(ClientTest, ForkedChildNeverSharesItsParentsConnections) {
  FakeWorker worker;
  const std::string data = RandomBytes(1000);
  worker.PutFile("/f", data);
  auto client = MakeClient({worker.address()}, 1000, /*parallel=*/1);
  ASSERT_EQ(*ReadString(*client, "/f", 0, 1000), data);
  ASSERT_EQ(worker.accepted.load(), 1);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Reads on a connection of its own: the parent's idle one stays the parent's. The child
    // ends without destructors (the client's threads are not there).
    auto got = ReadString(*client, "/f", 0, 1000);
    ::_exit(got.ok() && *got == data ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(worker.accepted.load(), 2);
  // The parent's connection was neither taken nor closed by the child.
  ASSERT_EQ(*ReadString(*client, "/f", 0, 1000), data);
  EXPECT_EQ(worker.accepted.load(), 2);
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

// ---------------------------------------------------------------------------------------------
// Cluster behaviour: striping, failover, direct reads, the circuit breaker.

std::unique_ptr<Client> MakeClient(ClientOptions options, Clock& clock = Clock::Real()) {
  auto client = client::CreateClient(std::move(options), clock);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

std::string DeadAddress() { return "127.0.0.1:" + std::to_string(UnusedPort()); }

TEST(ClusterTest, CreateChecksBlockSizeAndMembership) {
  ClientOptions options = SmallPieceOptions({"127.0.0.1:1"});
  options.block_size = 1500;
  EXPECT_EQ(Client::Create(options).status().code(), StatusCode::kInvalidArgument);
  options = SmallPieceOptions({"127.0.0.1:1"});
  options.etcd_endpoints = {"127.0.0.1:2"};
  EXPECT_EQ(Client::Create(options).status().code(), StatusCode::kInvalidArgument);
  options = SmallPieceOptions({"127.0.0.1:1"});
  options.fallback_under_store = "ftp://nowhere";
  EXPECT_EQ(Client::Create(options).status().code(), StatusCode::kInvalidArgument);
}

TEST(ClusterTest, BlocksOfOneFileGoToTheirOwnersAndSpread) {
  FakeWorker w1;
  FakeWorker w2;
  FakeWorker w3;
  std::map<std::string, FakeWorker*> by_address = {
      {w1.address(), &w1}, {w2.address(), &w2}, {w3.address(), &w3}};
  const std::string data = RandomBytes(48'000);  // 12 blocks of 4000
  for (auto* w : {&w1, &w2, &w3}) w->PutFile("/big", data);
  auto client = MakeClient(SmallPieceOptions({w1.address(), w2.address(), w3.address()}));
  ASSERT_EQ(*ReadString(*client, "/big", 0, data.size()), data);
  std::set<std::string> owners;
  for (std::uint64_t block = 0; block < 12; ++block) {
    const auto ranked = client->Locate("/big", block, 3);
    ASSERT_EQ(ranked.size(), 3U);
    owners.insert(ranked[0]);
    // Every piece of the block went to the block's owner, and only there.
    for (std::uint64_t off = block * 4000; off < (block + 1) * 4000; off += 1000) {
      for (const auto& [address, w] : by_address) {
        const auto offsets = w->ReadOffsets();
        const bool got = std::find(offsets.begin(), offsets.end(), off) != offsets.end();
        EXPECT_EQ(got, address == ranked[0]) << "offset " << off << " at " << address;
      }
    }
  }
  EXPECT_GE(owners.size(), 2U);
  EXPECT_EQ(client->stats().failovers, 0U);
}

TEST(ClusterTest, SmallReadAcrossBlocksOfDifferentOwnersGoesToEachOwner) {
  FakeWorker w1;
  FakeWorker w2;
  FakeWorker w3;
  std::map<std::string, FakeWorker*> by_address = {
      {w1.address(), &w1}, {w2.address(), &w2}, {w3.address(), &w3}};
  const std::string data = RandomBytes(48'000);  // 12 blocks of 4000
  for (auto* w : {&w1, &w2, &w3}) w->PutFile("/big", data);
  auto client = MakeClient(SmallPieceOptions({w1.address(), w2.address(), w3.address()}));
  // A boundary between blocks whose owners differ (placement hashes the workers' ports, so
  // which boundary it is varies from run to run; with three workers and twelve blocks there is
  // one, as BlocksOfOneFileGoToTheirOwnersAndSpread checks).
  std::uint64_t boundary = 0;
  for (std::uint64_t block = 1; block < 12 && boundary == 0; ++block) {
    if (client->Locate("/big", block - 1, 3) != client->Locate("/big", block, 3)) {
      boundary = block * 4000;
    }
  }
  ASSERT_NE(boundary, 0U);
  ASSERT_EQ(*ReadString(*client, "/big", boundary - 100, 200), data.substr(boundary - 100, 200));
  const std::string before = client->Locate("/big", boundary / 4000 - 1, 1)[0];
  const std::string after = client->Locate("/big", boundary / 4000, 1)[0];
  for (const auto& [address, w] : by_address) {
    auto offsets = w->ReadOffsets();
    std::sort(offsets.begin(), offsets.end());
    std::vector<std::uint64_t> want;
    if (address == before) want.push_back(boundary - 100);
    if (address == after) want.push_back(boundary);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(offsets, want) << address;
  }
}

TEST(ClusterTest, SmallFileIsPlacedWhole) {
  FakeWorker w1;
  FakeWorker w2;
  FakeWorker w3;
  for (auto* w : {&w1, &w2, &w3}) w->PutFile("/small", RandomBytes(3500));
  auto client = MakeClient(SmallPieceOptions({w1.address(), w2.address(), w3.address()}));
  ASSERT_TRUE(ReadString(*client, "/small", 0, 3500).ok());
  int serving = 0;
  for (auto* w : {&w1, &w2, &w3}) {
    if (w->reads > 0) {
      ++serving;
      EXPECT_EQ(w->reads.load(), 4);
      EXPECT_EQ(w->stats.load(), 1);  // the stat went to the same worker
    }
  }
  EXPECT_EQ(serving, 1);
}

TEST(ClusterTest, DeadOwnerFailsOverToTheNextWorker) {
  FakeWorker alive;
  const std::string dead = DeadAddress();
  const std::string data = RandomBytes(40'000);
  alive.PutFile("/f", data);
  auto client = MakeClient(SmallPieceOptions({alive.address(), dead}));
  // With two workers the dead one owns about half the blocks (and maybe the stat).
  std::size_t dead_owned = 0;
  for (std::uint64_t block = 0; block < 10; ++block) {
    dead_owned += client->Locate("/f", block, 1)[0] == dead ? 1 : 0;
  }
  ASSERT_GT(dead_owned, 0U);
  auto got = ReadString(*client, "/f", 0, data.size());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(alive.reads.load(), 40);
  const ClientStats stats = client->stats();
  EXPECT_GT(stats.failovers, 0U);
  EXPECT_GE(stats.breaker_opens, 1U);
  EXPECT_EQ(stats.direct_reads, 0U);
}

// A 500 (the worker failed) and a 503 (the worker is busy, protocol.md item 2) are both tried on
// the next worker; neither opens the breaker, since the worker answered.
TEST(ClusterTest, ServerErrorsAndBusyAnswersFailOverWithoutOpeningTheBreaker) {
  for (std::atomic<int> FakeWorker::*failure :
       {&FakeWorker::fail_reads_with_500, &FakeWorker::fail_reads_with_503}) {
    SCOPED_TRACE(failure == &FakeWorker::fail_reads_with_500 ? "500" : "503");
    FakeWorker w1;
    FakeWorker w2;
    const std::string data = RandomBytes(4000);
    w1.PutFile("/f", data);
    w2.PutFile("/f", data);
    auto client = MakeClient(SmallPieceOptions({w1.address(), w2.address()}));
    ASSERT_TRUE(client->Stat("/f").ok());
    FakeWorker& owner = client->Locate("/f", 0, 1)[0] == w1.address() ? w1 : w2;
    FakeWorker& other = &owner == &w1 ? w2 : w1;
    owner.*failure = 1;
    EXPECT_EQ(*ReadString(*client, "/f", 0, 1000), data.substr(0, 1000));
    EXPECT_EQ(other.reads.load(), 1);
    EXPECT_EQ(client->stats().failovers, 1U);
    EXPECT_EQ(client->stats().worker_errors, 1U);
    EXPECT_EQ(client->stats().breaker_opens, 0U);
    // The owner answered, so it gets the next read at once, not after a backoff.
    EXPECT_EQ(*ReadString(*client, "/f", 1000, 1000), data.substr(1000, 1000));
    EXPECT_EQ(owner.reads.load(), 2);
  }
}

TEST(ClusterTest, AnswersAboutTheRequestAreNotFailedOver) {
  FakeWorker w1;
  FakeWorker w2;
  auto client = MakeClient(SmallPieceOptions({w1.address(), w2.address()}));
  EXPECT_EQ(client->Stat("/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(w1.stats.load() + w2.stats.load(), 1);
  EXPECT_EQ(client->stats().failovers, 0U);
}

TEST(ClusterTest, EveryWorkerDeadReadsTheUnderStoreDirectly) {
  auto store = std::make_shared<MemoryUnderStore>();
  const std::string data = RandomBytes(30'000);
  store->Put("/d/f", data);
  store->Put("/d/g", "tiny");
  ClientOptions options = SmallPieceOptions({DeadAddress(), DeadAddress(), DeadAddress()});
  options.fallback_store = store;
  auto client = MakeClient(std::move(options));
  auto st = client->Stat("/d/f");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->size, data.size());
  auto entries = client->List("/d", false);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(entries->size(), 2U);
  std::mt19937 rng(5);
  for (int i = 0; i < 30; ++i) {
    const std::uint64_t offset = rng() % 31'000;
    const std::size_t length = rng() % 12'000;
    auto got = ReadString(*client, "/d/f", offset, length);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(*got, offset >= data.size() ? "" : data.substr(offset, length));
  }
  EXPECT_EQ(*ReadString(*client, "/d/g", 0, 10), "tiny");
  EXPECT_EQ(client->Stat("/d/none").status().code(), StatusCode::kNotFound);
  const ClientStats stats = client->stats();
  EXPECT_GT(stats.direct_reads, 0U);
  EXPECT_GT(stats.direct_read_bytes, 0U);
  EXPECT_GT(stats.direct_metadata, 0U);
}

TEST(ClusterTest, ConcurrentDirectReadsShareTheClientsReadThreads) {
  auto store = std::make_shared<MemoryUnderStore>();
  const std::string data = RandomBytes(30'000);
  store->Put("/d/f", data);
  ClientOptions options = SmallPieceOptions({DeadAddress(), DeadAddress()});
  options.fallback_store = store;
  auto client = MakeClient(std::move(options));
  constexpr int kThreads = 4;
  constexpr int kReads = 10;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kReads; ++i) {
        auto got = ReadString(*client, "/d/f", 0, data.size());
        if (!got.ok() || *got != data) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Each read is cut into one under-store read per block (8 blocks of 4000 bytes).
  EXPECT_EQ(store->read_calls(), std::uint64_t{kThreads} * kReads * 8);
  EXPECT_EQ(client->stats().direct_read_bytes, std::uint64_t{kThreads} * kReads * data.size());
}

TEST(ClusterTest, UnreachableEtcdIsAnErrorUnlessSeedWorkersAreGiven) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  ClientOptions options = SmallPieceOptions({});
  options.etcd_endpoints = {DeadAddress()};
  options.etcd_timeout = 500ms;
  options.membership_refresh = 100ms;
  EXPECT_EQ(Client::Create(options).status().code(), StatusCode::kUnavailable);
  options.seed_workers = {WorkerRecord{"w1", worker.address(), 0, 0}};
  auto client = MakeClient(std::move(options));
  ASSERT_EQ(client->Workers().size(), 1U);
  EXPECT_EQ(*ReadString(*client, "/f", 2, 3), "234");
}

TEST(ClusterTest, WorkersAndUnderStoreBothFailingReportsBoth) {
  auto store = std::make_shared<MemoryUnderStore>();
  store->Put("/f", "data");
  const std::string dead = DeadAddress();
  ClientOptions options = SmallPieceOptions({dead});
  options.fallback_store = store;
  auto client = MakeClient(std::move(options));
  ASSERT_TRUE(client->Stat("/f").ok());
  store->InjectFailure(Status::Unavailable("store down"));
  auto got = ReadString(*client, "/f", 0, 4);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find(dead), std::string::npos) << got.status().message();
  EXPECT_NE(got.status().message().find("store down"), std::string::npos);
  // A missing file is the under store's answer, not a failure.
  store->InjectFailure(Status::Ok());
  EXPECT_EQ(client->Stat("/g").status().code(), StatusCode::kNotFound);
}

TEST(ClusterTest, WorkersAnsweringServerErrorsFallBackToTheUnderStore) {
  FakeWorker w1;
  FakeWorker w2;
  auto store = std::make_shared<MemoryUnderStore>();
  const std::string data = RandomBytes(2000);
  store->Put("/f", data);
  w1.PutFile("/f", data);  // the same version as the store: "v1"
  w2.PutFile("/f", data);
  ClientOptions options = SmallPieceOptions({w1.address(), w2.address()});
  options.fallback_store = store;
  auto client = MakeClient(std::move(options));
  w1.fail_reads_with_500 = 100;
  w2.fail_reads_with_500 = 100;
  EXPECT_EQ(*ReadString(*client, "/f", 0, 2000), data);
  EXPECT_EQ(store->bytes_read(), 2000U);
  EXPECT_EQ(client->stats().direct_reads, 2U);
}

TEST(ClusterTest, NotFoundFromAWorkerIsNotReadDirectly) {
  FakeWorker w1;
  auto store = std::make_shared<MemoryUnderStore>();
  store->Put("/f", "only in the store");
  ClientOptions options = SmallPieceOptions({w1.address()});
  options.fallback_store = store;
  auto client = MakeClient(std::move(options));
  EXPECT_EQ(client->Stat("/f").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->stats().direct_metadata, 0U);
}

TEST(ClusterTest, BreakerSkipsAStalledWorkerAndLetsItBackWhenItRecovers) {
  FakeWorker stalled;
  FakeWorker healthy;
  const std::string data = RandomBytes(40'000);
  stalled.PutFile("/f", data);
  healthy.PutFile("/f", data);
  ClientOptions options = SmallPieceOptions({stalled.address(), healthy.address()});
  options.request_timeout = 300ms;
  options.breaker_backoff = 500ms;
  options.max_parallel_requests = 4;
  testing::ManualClock clock;
  auto client = MakeClient(std::move(options), clock);
  ASSERT_TRUE(client->Stat("/f").ok());
  // A block the stalled worker owns.
  std::uint64_t block = 0;
  while (client->Locate("/f", block, 1)[0] != stalled.address()) ++block;
  ASSERT_LT(block, 10U);
  const auto read_block = [&] {
    auto got = ReadString(*client, "/f", block * 4000, 1000);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(*got, data.substr(block * 4000, 1000));
  };
  stalled.StallReads(true);
  // The first read times out on the stalled owner and is served by the next worker; while the
  // backoff lasts (the clock does not move) the owner is not asked again.
  for (int i = 0; i < 50; ++i) ASSERT_NO_FATAL_FAILURE(read_block()) << i;
  EXPECT_EQ(stalled.reads.load(), 1);
  EXPECT_EQ(client->stats().breaker_opens, 1U);
  EXPECT_EQ(client->stats().breaker_skips, 49U);

  // Recovered: once the backoff is over a probe goes through, succeeds and closes the breaker,
  // and the owner serves its block again.
  stalled.StallReads(false);
  clock.Advance(499ms);
  ASSERT_NO_FATAL_FAILURE(read_block());
  EXPECT_EQ(stalled.reads.load(), 1);
  clock.Advance(1ms);
  for (int i = 0; i < 5; ++i) ASSERT_NO_FATAL_FAILURE(read_block()) << i;
  EXPECT_EQ(stalled.reads.load(), 6);
  EXPECT_EQ(client->stats().breaker_opens, 1U);
}

TEST(ClusterTest, RefusingWorkerCostsNoTimeouts) {
  // A refused connection is immediate; with the breaker open it is not even attempted.
  FakeWorker healthy;
  const std::string data = RandomBytes(40'000);
  healthy.PutFile("/f", data);
  ClientOptions options = SmallPieceOptions({DeadAddress(), healthy.address()});
  options.breaker_backoff = 30'000ms;
  auto client = MakeClient(std::move(options));
  for (int i = 0; i < 50; ++i) ASSERT_EQ(*ReadString(*client, "/f", 0, data.size()), data);
  EXPECT_EQ(client->stats().breaker_opens, 1U);
  EXPECT_GT(client->stats().breaker_skips, 0U);
}

TEST(ClusterTest, AllWorkersSkippedWithoutUnderStoreStillTriesThem) {
  FakeWorker worker;
  worker.PutFile("/f", "0123456789");
  ClientOptions options = SmallPieceOptions({worker.address()});
  options.request_timeout = 200ms;
  options.breaker_backoff = 30'000ms;
  options.breaker_max_backoff = 30'000ms;
  auto client = MakeClient(std::move(options));
  ASSERT_TRUE(client->Stat("/f").ok());
  worker.StallReads(true);
  EXPECT_EQ(ReadString(*client, "/f", 0, 10).status().code(), StatusCode::kTimeout);
  worker.StallReads(false);
  // The breaker is open for 30 s, but there is nowhere else to go: the worker is asked.
  EXPECT_EQ(*ReadString(*client, "/f", 0, 10), "0123456789");
}

}  // namespace
}  // namespace epochcache
