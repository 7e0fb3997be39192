// Disk failures through a FaultEnv: a write that fails or tears, a read that fails or returns
// flipped bits, a rename that fails, and cleanup that fails, each against real files. The
// store must never show a partial page, must keep serving what it has, and must finish the
// cleanup at its next start.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "epochcache/page_store.h"
#include "support/fault_env.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_support::FaultEnv;
using testing_support::FaultOp;

constexpr std::uint64_t kPageSize = std::uint64_t{128} * 1024;  // two checksum chunks
constexpr std::uint64_t kPageFile = kPageSize + kPageHeaderBytes;

std::unique_ptr<PageStore> Open(const std::vector<std::string>& dirs, Env* env) {
  std::vector<CacheDirOptions> options;
  for (const std::string& dir : dirs) options.push_back({dir, 100 * kPageFile});
  return OpenTestStore(options, kPageSize, EvictionPolicy::kLru, env);
}

// A Put of page 0 that the disk fails: an IoError, and neither the page nor any file of it is
// left in `dir`. Returns the Put's status.
Status ExpectFailedPut(PageStore& store, const std::string& dir) {
  Status st = store.Put(Page("f", 0), PageBytes(kPageSize, 0));
  EXPECT_EQ(st.code(), StatusCode::kIoError) << st.ToString();
  EXPECT_EQ(store.Get(Page("f", 0), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(PageFiles(dir).empty());
  return st;
}

// Every page in [0, n) is served with its own bytes.
void ExpectServed(PageStore& store, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    auto h = store.Get(Page("f", i), 0, kPageSize);
    ASSERT_TRUE(h.ok()) << i << ": " << h.status().ToString();
    EXPECT_EQ(ReadHandle(*h), PageBytes(kPageSize, i)) << i;
  }
}

void PutPages(PageStore& store, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(store.Put(Page("f", i), PageBytes(kPageSize, i)).ok()) << i;
  }
}

TEST(EnvFaultTest, DiskFullMidWriteShowsNoPartialPageNowOrAfterRestart) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  PutPages(*store, 5);
  // Half a page reaches the disk, then it is full.
  env.TearWrites(kPageSize / 2, ENOSPC);
  const Status st = store->Put(Page("f", 5), PageBytes(kPageSize, 5));
  EXPECT_EQ(st.code(), StatusCode::kRejected) << st.ToString();
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos) << st.ToString();
  EXPECT_EQ(env.injected(FaultOp::kWrite), 1);

  EXPECT_EQ(store->Get(Page("f", 5), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 5U);
  const PageStoreStats s = store->Stats();
  EXPECT_TRUE(s.dirs[0].healthy);
  EXPECT_EQ(s.rejected_puts, 1U);
  ExpectServed(*store, 5);

  store.reset();
  store = Open({tmp.path()}, nullptr);
  EXPECT_EQ(store->Stats().recovered_pages, 5U);
  EXPECT_EQ(store->Stats().discarded_files, 0U);
  EXPECT_EQ(store->Get(Page("f", 5), 0, 1).status().code(), StatusCode::kNotFound);
  ExpectServed(*store, 5);
}

TEST(EnvFaultTest, FailedWriteIsAnIoErrorAndTheNextPutSucceeds) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  env.TearWrites(100, EIO);
  (void)ExpectFailedPut(*store, tmp.path());  // its checks are what this test wants
  EXPECT_EQ(store->Stats().dirs[0].errors, 1U);
  EXPECT_TRUE(store->Stats().dirs[0].healthy);  // one error is not a failed disk
  // The caller refetches and offers the page again.
  PutPages(*store, 1);
  ExpectServed(*store, 1);
}

TEST(EnvFaultTest, FailedCloseCountsAsAFailedWrite) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  env.Fail(FaultOp::kClose, EIO);  // as NFS reports a lost write
  (void)ExpectFailedPut(*store, tmp.path());
}

TEST(EnvFaultTest, ReadErrorDropsThePageForRefetch) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  PutPages(*store, 3);
  env.Fail(FaultOp::kRead, EIO);
  auto miss = store->Get(Page("f", 1), 0, kPageSize);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.status().code(), StatusCode::kNotFound);  // so the caller refetches
  EXPECT_NE(miss.status().message().find("Input/output error"), std::string::npos);

  PageStoreStats s = store->Stats();
  EXPECT_EQ(s.dirs[0].errors, 1U);
  EXPECT_EQ(s.checksum_failures, 0U);
  EXPECT_TRUE(s.dirs[0].healthy);
  EXPECT_EQ(s.dirs[0].pages, 2U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 2U);  // its file is gone too
  // The other pages were never affected; the refetched one is cached again.
  ASSERT_TRUE(store->Put(Page("f", 1), PageBytes(kPageSize, 1)).ok());
  ExpectServed(*store, 3);
}

TEST(EnvFaultTest, FlippedBitOnReadIsAChecksumFailureNotWrongBytes) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  PutPages(*store, 2);
  ASSERT_TRUE(store->Get(Page("f", 0), 0, 1).ok());  // the page is there and intact
  // Both reads of the next Get (header, then data) come back with a bit flipped: whichever the
  // store checks first must catch it.
  env.CorruptReads(2);
  auto miss = store->Get(Page("f", 0), kPageSize - 10, 10);
  EXPECT_EQ(miss.status().code(), StatusCode::kNotFound);
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.checksum_failures, 1U);
  EXPECT_EQ(s.dirs[0].errors, 0U);  // bad bytes are not a failing dir
  EXPECT_EQ(s.dirs[0].pages, 1U);
  ASSERT_TRUE(store->Put(Page("f", 0), PageBytes(kPageSize, 0)).ok());
  ExpectServed(*store, 2);
}

TEST(EnvFaultTest, FailedRenameLeavesNothingBehind) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  env.Fail(FaultOp::kRename, EIO);
  const Status st = ExpectFailedPut(*store, tmp.path());
  EXPECT_NE(st.message().find("renaming"), std::string::npos) << st.ToString();
  PutPages(*store, 2);
  ExpectServed(*store, 2);
}

TEST(EnvFaultTest, CleanupThatFailedIsFinishedAtTheNextStart) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.path()}, &env);
  PutPages(*store, 4);
  // The rename fails and so does removing the temp file: a partial page stays on disk.
  env.Fail(FaultOp::kRename, EIO);
  env.Fail(FaultOp::kUnlink, EIO);
  EXPECT_FALSE(store->Put(Page("f", 4), PageBytes(kPageSize, 4)).ok());
  EXPECT_EQ(env.injected(FaultOp::kUnlink), 1);
  ASSERT_EQ(TempFileCount(tmp.path()), 1U);
  EXPECT_EQ(store->Get(Page("f", 4), 0, 1).status().code(), StatusCode::kNotFound);

  store.reset();
  store = Open({tmp.path()}, nullptr);
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.recovered_pages, 4U);
  EXPECT_EQ(s.discarded_files, 1U);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
  ExpectServed(*store, 4);
}

TEST(EnvFaultTest, UnreadablePageAtStartIsDiscardedAndTheRestRecovered) {
  TempDir tmp;
  {
    auto store = Open({tmp.path()}, nullptr);
    PutPages(*store, 6);
  }
  FaultEnv env;
  env.Fail(FaultOp::kRead, EIO);  // one header read during the scan
  auto store = Open({tmp.path()}, &env);
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.recovered_pages, 5U);
  EXPECT_EQ(s.discarded_files, 1U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 5U);
  EXPECT_TRUE(s.dirs[0].healthy);
  // Whichever page it was misses once and is cached again.
  for (std::uint64_t i = 0; i < 6; ++i) {
    if (!store->Get(Page("f", i), 0, 1).ok()) {
      ASSERT_TRUE(store->Put(Page("f", i), PageBytes(kPageSize, i)).ok());
    }
  }
  ExpectServed(*store, 6);
}

TEST(EnvFaultTest, DirUnreadableAtStartIsSkippedAndItsPagesKeptForLater) {
  TempDir tmp;
  const std::vector<std::string> dirs = {tmp.Sub("a"), tmp.Sub("b")};
  std::uint64_t in_a = 0;
  {
    auto store = Open(dirs, nullptr);
    PutPages(*store, 40);
    in_a = store->Stats().dirs[0].pages;
    ASSERT_GT(in_a, 0U);
  }
  FaultEnv env;
  env.Fail(FaultOp::kListDir, EIO);  // the first dir's pages/ listing
  {
    auto store = Open(dirs, &env);
    const PageStoreStats s = store->Stats();
    EXPECT_FALSE(s.dirs[0].healthy);
    EXPECT_TRUE(s.dirs[1].healthy);
    EXPECT_EQ(s.recovered_pages, 40 - in_a);
    EXPECT_EQ(PageFiles(tmp.Sub("a")).size(), in_a);  // nothing deleted
  }
  auto store = Open(dirs, nullptr);
  EXPECT_EQ(store->Stats().recovered_pages, 40U);
  ExpectServed(*store, 40);
}

TEST(EnvFaultTest, PrefixDirThatCannotBeCreatedTakesTheDirOutOfService) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.Sub("a"), tmp.Sub("b")}, &env);
  // The first write finds its prefix dir missing, and making it is refused.
  env.Fail(FaultOp::kCreateDir, EACCES);
  ASSERT_TRUE(store->Put(Page("f", 0), PageBytes(kPageSize, 0)).ok());  // retried in the other
  const PageStoreStats s = store->Stats();
  EXPECT_NE(s.dirs[0].healthy, s.dirs[1].healthy);
  EXPECT_EQ(s.dir_errors, 1U);
  ExpectServed(*store, 1);
}

// Faults taken by several threads reading and writing at once: error paths take the same locks as
// the happy ones (run under ThreadSanitizer), and no Get ever returns wrong bytes.
TEST(EnvFaultTest, FaultsUnderConcurrentUseNeverServeWrongBytes) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open({tmp.Sub("a"), tmp.Sub("b")}, &env);
  // Armed before the threads start, so every fault is taken by one of them. Three dir errors
  // can take at most one dir out of service, so the other keeps serving reads.
  env.Fail(FaultOp::kWrite, EIO, 1);
  env.Fail(FaultOp::kRead, EIO, 1);
  env.CorruptReads(2);
  env.Fail(FaultOp::kRename, EIO, 1);
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPagesPerThread = 24;
  std::atomic<int> wrong{0};
  std::atomic<int> served{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string file = "t" + std::to_string(t);
        for (int round = 0; round < 3; ++round) {
          for (std::uint64_t i = 0; i < kPagesPerThread; ++i) {
            const auto bytes = PageBytes(kPageSize, i * 131 + static_cast<std::uint64_t>(t));
            auto h = store->Get(Page(file, i), 0, kPageSize);
            if (h.ok()) {
              ++served;
              if (ReadHandle(*h) != bytes) ++wrong;
            } else {
              (void)store->Put(Page(file, i), bytes);
            }
          }
        }
      });
    }
  }
  EXPECT_EQ(env.injected(FaultOp::kWrite), 1);
  EXPECT_EQ(env.injected(FaultOp::kRead), 3);  // an error, two flipped bits
  EXPECT_EQ(env.injected(FaultOp::kRename), 1);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(served.load(), 0);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
}

}  // namespace
}  // namespace epochcache::pagestore
