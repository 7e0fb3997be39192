// The native client (include/epochcache/client.h) talking to the worker's own code over
// 127.0.0.1: every assertion here is one the two sides of docs/api.md must agree on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "client/test_client.h"
#include "epochcache/client.h"
#include "epochcache/page_store.h"
#include "understore/memory_under_store.h"
#include "worker/http_server.h"
#include "worker/read_service.h"
#include "worker/temp_dir.h"

namespace epochcache {

// Readable failures (gtest would print the bytes of the struct).
void PrintTo(const FileStatus& st, std::ostream* os) {
  *os << "{" << st.path << (st.is_directory ? " dir" : " file") << " size " << st.size
      << " mtime_ns " << st.mtime_ns << " version '" << st.version << "'}";
}

namespace {

using testing::ReadString;
using worker::testing::PatternBytes;
using worker::testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;
constexpr std::uint64_t kPieceSize = 4 * kPageSize;
constexpr std::uint64_t kBlockSize = 4 * kPieceSize;
// More entries than one /v1/list page holds by default (protocol::kDefaultListLimit).
constexpr int kManyFiles = 2345;
constexpr char kToken[] = "contract-test-token-0123456789";

std::string ManyName(int i) {
  std::string digits = std::to_string(i);
  return "/data/many/f" + std::string(5 - digits.size(), '0') + digits;
}

// A worker (its page store, read service and HTTP server) over a MemoryUnderStore.
class InProcessWorker {
 public:
  InProcessWorker(MemoryUnderStore& under, const std::string& token) {
    PageStoreOptions store;
    store.dirs.push_back({dir_.str() + "/pages", 64 << 20});
    store.page_size = kPageSize;
    auto pages = PageStore::Open(store);
    EXPECT_TRUE(pages.ok()) << pages.status().ToString();
    if (!pages.ok()) return;
    pages_ = std::move(pages).value();
    service_ = std::make_unique<worker::ReadService>(under, *pages_);
    worker::HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.io_threads = 2;
    options.handler_threads = 4;
    options.auth_token = token;
    auto server = worker::HttpServer::Start(*service_, options);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(server).value();
  }

  [[nodiscard]] bool running() const { return server_ != nullptr; }
  [[nodiscard]] std::string address() const {
    return "127.0.0.1:" + std::to_string(server_->port());
  }
  [[nodiscard]] std::uint64_t requests() const { return service_->counters().requests.load(); }
  [[nodiscard]] std::uint64_t errors() const { return service_->counters().errors.load(); }

 private:
  TempDir dir_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<worker::ReadService> service_;
  std::unique_ptr<worker::HttpServer> server_;
};

// Workers only, no direct reads: every answer the client gives came over the wire.
std::unique_ptr<Client> Connect(const InProcessWorker& worker, const std::string& token = "") {
  ClientOptions options;
  options.worker_hosts = {worker.address()};
  options.auth_token = token;
  options.piece_size = kPieceSize;
  options.block_size = kBlockSize;
  options.max_workers_per_key = 1;
  options.request_timeout = std::chrono::seconds(30);
  auto client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

class ContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    big_ = PatternBytes(5 * kBlockSize + 1234, 1);  // several blocks, pieces and pages
    under_.Put("/data/big.bin", big_);
    under_.Put("/data/empty", "");
    under_.Put(odd_name_, "odd");
    under_.Put("/data/nested/a/1", "1");
    under_.Put("/data/nested/a/b/2", "22");
    under_.Put("/data/nested/3", "333");
    for (int i = 0; i < kManyFiles; ++i) under_.Put(ManyName(i), std::to_string(i));
    worker_ = std::make_unique<InProcessWorker>(under_, "");
    ASSERT_TRUE(worker_->running());
    client_ = Connect(*worker_);
    ASSERT_NE(client_, nullptr);
  }

  MemoryUnderStore under_;
  std::string big_;
  // Characters the percent coding must carry both ways (a '?' or '#' the path rules refuse).
  const std::string odd_name_ = "/data/odd name %2e+\xC3\xA9&=;,'.bin";
  std::unique_ptr<InProcessWorker> worker_;
  std::unique_ptr<Client> client_;
};

TEST_F(ContractTest, StatAgreesWithTheUnderStore) {
  for (const std::string path : {"/data/big.bin", "/data/empty", odd_name_.c_str()}) {
    auto expected = under_.Stat(path);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    auto st = client_->Stat(path);
    ASSERT_TRUE(st.ok()) << path << ": " << st.status().ToString();
    EXPECT_EQ(*st, *expected) << path;
  }
  auto dir = client_->Stat("/data/nested");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->is_directory);
  EXPECT_EQ(dir->path, "/data/nested");
}

TEST_F(ContractTest, ListingSpanningSeveralPagesReturnsEveryEntryOnce) {
  const std::uint64_t requests_before = worker_->requests();
  auto list = client_->List("/data/many", /*recursive=*/false);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  // Three pages of at most 1000: the client followed next_start_after to the end.
  EXPECT_GE(worker_->requests() - requests_before, 3U);
  ASSERT_EQ(list->size(), static_cast<std::size_t>(kManyFiles));
  std::set<std::string> seen;
  for (const auto& entry : *list) {
    EXPECT_TRUE(seen.insert(entry.path).second) << "listed twice: " << entry.path;
    auto expected = under_.Stat(entry.path);
    ASSERT_TRUE(expected.ok()) << entry.path << ": " << expected.status().ToString();
    EXPECT_EQ(entry, *expected);
  }
  for (int i = 0; i < kManyFiles; ++i) EXPECT_TRUE(seen.contains(ManyName(i))) << ManyName(i);
  EXPECT_TRUE(std::is_sorted(list->begin(), list->end(),
                             [](const auto& a, const auto& b) { return a.path < b.path; }));
}

TEST_F(ContractTest, ListingsAgreeWithTheUnderStore) {
  for (const bool recursive : {false, true}) {
    for (const std::string path : {"/data", "/data/nested"}) {
      auto expected = under_.List(path, recursive);
      ASSERT_TRUE(expected.ok()) << expected.status().ToString();
      std::sort(expected->begin(), expected->end(),
                [](const auto& a, const auto& b) { return a.path < b.path; });
      auto list = client_->List(path, recursive);
      ASSERT_TRUE(list.ok()) << path << ": " << list.status().ToString();
      EXPECT_EQ(*list, *expected) << path << (recursive ? " recursive" : "");
    }
  }
}

TEST_F(ContractTest, ReadsWholeFilesRangesAndPastTheEnd) {
  auto whole = ReadString(*client_, "/data/big.bin", 0, big_.size());
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(*whole == big_);

  // Ranges that start and end inside pages, pieces and blocks, read twice (miss, then hit).
  const std::map<std::uint64_t, std::size_t> ranges = {{0, 1},
                                                       {1, kPageSize},
                                                       {kPageSize - 1, 2},
                                                       {kPieceSize - 7, kPieceSize + 14},
                                                       {kBlockSize - 1, 3 * kBlockSize},
                                                       {big_.size() - 10, 10}};
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [offset, length] : ranges) {
      auto got = ReadString(*client_, "/data/big.bin", offset, length);
      ASSERT_TRUE(got.ok()) << offset << "+" << length << ": " << got.status().ToString();
      EXPECT_TRUE(*got == big_.substr(offset, length)) << offset << "+" << length;
    }
  }

  // Clipped at the end like pread(2): a short read across it, nothing at or past it.
  auto across = ReadString(*client_, "/data/big.bin", big_.size() - 5, 100);
  ASSERT_TRUE(across.ok()) << across.status().ToString();
  EXPECT_TRUE(*across == big_.substr(big_.size() - 5));
  for (const std::uint64_t offset : {big_.size(), big_.size() + 1, big_.size() + kBlockSize}) {
    auto past = ReadString(*client_, "/data/big.bin", offset, 16);
    ASSERT_TRUE(past.ok()) << offset << ": " << past.status().ToString();
    EXPECT_EQ(past->size(), 0U) << offset;
  }
  auto empty = ReadString(*client_, "/data/empty", 0, 16);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->size(), 0U);
  auto odd = ReadString(*client_, odd_name_, 0, 16);
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  EXPECT_EQ(*odd, "odd");
}

TEST_F(ContractTest, NotFoundIsNotFoundOnEveryCall) {
  EXPECT_EQ(client_->Stat("/data/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->List("/data/missing", false).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadString(*client_, "/data/missing", 0, 8).status().code(), StatusCode::kNotFound);
  const Status message = client_->Stat("/data/missing").status();
  EXPECT_NE(message.message().find("/data/missing"), std::string::npos) << message.ToString();
}

TEST_F(ContractTest, AnEscapingPathIsRefusedByTheWorkerAsPermissionDenied) {
  for (const char* path :
       {"/data/../etc/passwd", "/data/./x", "/data//x", "/data/x#y", "/data/a\x01"}) {
    const std::uint64_t errors_before = worker_->errors();
    EXPECT_EQ(client_->Stat(path).status().code(), StatusCode::kPermissionDenied) << path;
    EXPECT_EQ(ReadString(*client_, path, 0, 8).status().code(), StatusCode::kPermissionDenied)
        << path;
    EXPECT_EQ(client_->List(path, true).status().code(), StatusCode::kPermissionDenied) << path;
    // The refusals came from the worker, not from a check of the client's own.
    EXPECT_EQ(worker_->errors() - errors_before, 3U) << path;
  }
}

TEST_F(ContractTest, TokensAreCheckedEndToEnd) {
  InProcessWorker guarded(under_, kToken);
  ASSERT_TRUE(guarded.running());
  const auto without = Connect(guarded);
  const auto wrong = Connect(guarded, "not-the-token");
  const auto right = Connect(guarded, kToken);
  ASSERT_TRUE(without && wrong && right);
  for (Client* client : {without.get(), wrong.get()}) {
    const Status stat = client->Stat("/data/big.bin").status();
    EXPECT_EQ(stat.code(), StatusCode::kUnauthenticated) << stat.ToString();
    EXPECT_EQ(stat.message().find("not-the-token"), std::string::npos) << stat.ToString();
    EXPECT_EQ(client->List("/data", false).status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(ReadString(*client, "/data/big.bin", 0, 8).status().code(),
              StatusCode::kUnauthenticated);
  }
  auto st = right->Stat("/data/big.bin");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->size, big_.size());
  auto bytes = ReadString(*right, "/data/big.bin", 3, 1000);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_TRUE(*bytes == big_.substr(3, 1000));
  auto list = right->List("/data/many", false);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), static_cast<std::size_t>(kManyFiles));
}

// A file replaced after the client learned its status, with part of the old version already in
// the worker's page store: the read is all of one version (the new one: the old one's other
// pages no longer exist anywhere), never old pages stitched to new ones.
TEST_F(ContractTest, AReplacedFileIsNeverReadAsAMixOfVersions) {
  for (const std::size_t new_size : {std::size_t{3 * kBlockSize}, std::size_t{kBlockSize + 99},
                                     std::size_t{4 * kBlockSize + 7}}) {
    // A path of its own each time: the client may reuse a status it saw within its TTL.
    const std::string path = "/data/replaced-" + std::to_string(new_size);
    const std::string old_bytes = PatternBytes(3 * kBlockSize, 100 + new_size);
    const std::string new_bytes = PatternBytes(new_size, 200 + new_size);
    under_.Put(path, old_bytes);
    auto before = client_->Stat(path);
    ASSERT_TRUE(before.ok()) << before.status().ToString();
    // The first piece of the old version goes into the worker's page store.
    auto head = ReadString(*client_, path, 0, kPieceSize);
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    ASSERT_TRUE(*head == old_bytes.substr(0, kPieceSize));

    under_.Put(path, new_bytes);
    auto got = ReadString(*client_, path, 0, std::max(old_bytes.size(), new_size) + kBlockSize);
    ASSERT_TRUE(got.ok()) << new_size << ": " << got.status().ToString();
    EXPECT_EQ(got->size(), new_bytes.size());
    EXPECT_TRUE(*got == new_bytes) << "new size " << new_size << ": the read mixed versions";
    auto after = client_->Stat(path);
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    EXPECT_EQ(after->version, under_.Stat(path)->version);
  }
}

}  // namespace
}  // namespace epochcache
