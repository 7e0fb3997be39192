// Several cache dirs: spreading pages, a full disk, and dirs that fail or vanish while the
// store is serving.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "epochcache/page_store.h"
#include "support/fault_env.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_support::FaultEnv;
using testing_support::FaultOp;

constexpr std::uint64_t kPageSize = std::uint64_t{16} * 1024;
constexpr std::uint64_t kPageFile = kPageSize + kPageHeaderBytes;

std::unique_ptr<PageStore> OpenDirs(const std::vector<CacheDirOptions>& dirs, Env* env = nullptr) {
  return OpenTestStore(dirs, kPageSize, EvictionPolicy::kLru, env);
}

TEST(CacheDirTest, PagesSpreadAcrossDirsByCapacity) {
  TempDir tmp;
  auto store = OpenDirs({{tmp.Sub("a"), 1000 * kPageFile},
                         {tmp.Sub("b"), 1000 * kPageFile},
                         {tmp.Sub("c"), 2000 * kPageFile}});
  for (std::uint64_t i = 0; i < 800; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(100, i)).ok());
  }
  const PageStoreStats s = store->Stats();
  ASSERT_EQ(s.dirs.size(), 3U);
  // Expected 200 / 200 / 400; allow generous noise.
  EXPECT_GT(s.dirs[0].pages, 140U);
  EXPECT_GT(s.dirs[1].pages, 140U);
  EXPECT_GT(s.dirs[2].pages, 320U);
  EXPECT_EQ(s.dirs[0].pages + s.dirs[1].pages + s.dirs[2].pages, 800U);
  EXPECT_EQ(PageFiles(tmp.Sub("c")).size(), s.dirs[2].pages);
  for (std::uint64_t i = 0; i < 800; i += 7) EXPECT_TRUE(store->Get(Page("f", i), 0, 100).ok());

  // All of them come back after a restart, each from its own dir.
  store.reset();
  store = OpenDirs({{tmp.Sub("a"), 1000 * kPageFile},
                    {tmp.Sub("b"), 1000 * kPageFile},
                    {tmp.Sub("c"), 2000 * kPageFile}});
  EXPECT_EQ(store->Stats().recovered_pages, 800U);
  EXPECT_EQ(store->Stats().dirs[2].pages, s.dirs[2].pages);
}

TEST(CacheDirTest, DiskFullRejectsAndLowersCapacity) {
  TempDir tmp;
  FaultEnv env;
  auto store = OpenDirs({{tmp.path(), 100 * kPageFile}}, &env);
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(kPageSize, i)).ok());
  }
  env.Fail(FaultOp::kWrite, ENOSPC);
  EXPECT_EQ(store->Put(Page("f", 5), PageBytes(kPageSize, 5)).code(), StatusCode::kRejected);
  EXPECT_EQ(env.injected(FaultOp::kWrite), 1);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
  PageStoreStats s = store->Stats();
  EXPECT_TRUE(s.dirs[0].healthy);
  EXPECT_EQ(s.dirs[0].capacity_bytes, 5 * kPageFile);
  EXPECT_EQ(s.rejected_puts, 1U);
  // Later pages evict within the lowered capacity instead of failing.
  ASSERT_TRUE(store->Put(Page("f", 5), PageBytes(kPageSize, 5)).ok());
  s = store->Stats();
  EXPECT_EQ(s.evictions, 1U);
  EXPECT_EQ(s.dirs[0].used_bytes, 5 * kPageFile);
  // Reads of what is cached were never affected.
  EXPECT_TRUE(store->Get(Page("f", 4), 0, kPageSize).ok());
}

TEST(CacheDirTest, ReadOnlyDirIsTakenOutOfService) {
  TempDir tmp;
  FaultEnv env;
  auto store = OpenDirs({{tmp.Sub("a"), 100 * kPageFile}}, &env);
  ASSERT_TRUE(store->Put(Page("f", 0), PageBytes(100, 0)).ok());
  env.Fail(FaultOp::kWrite, EROFS);
  EXPECT_FALSE(store->Put(Page("f", 1), PageBytes(100, 1)).ok());
  const PageStoreStats s = store->Stats();
  EXPECT_FALSE(s.dirs[0].healthy);
  EXPECT_EQ(s.dir_errors, 1U);
  EXPECT_EQ(s.dirs[0].pages, 0U);
  // With no dir left, every Put is declined and every Get misses; nothing crashes.
  EXPECT_EQ(store->Put(Page("f", 2), PageBytes(100, 2)).code(), StatusCode::kRejected);
  EXPECT_EQ(store->Get(Page("f", 0), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
}

TEST(CacheDirTest, FailedWriteIsRetriedInAnotherDir) {
  TempDir tmp;
  FaultEnv env;
  auto store = OpenDirs({{tmp.Sub("a"), 100 * kPageFile}, {tmp.Sub("b"), 100 * kPageFile}}, &env);
  env.Fail(FaultOp::kWrite, EROFS);
  EXPECT_TRUE(store->Put(Page("f", 0), PageBytes(100, 0)).ok());
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.dir_errors, 1U);
  EXPECT_NE(s.dirs[0].healthy, s.dirs[1].healthy);
  EXPECT_EQ(s.puts, 1U);
  EXPECT_TRUE(store->Get(Page("f", 0), 0, 100).ok());
}

TEST(CacheDirTest, TransientErrorsOnlyCountUntilRepeated) {
  TempDir tmp;
  FaultEnv env;
  auto store = OpenDirs({{tmp.path(), 100 * kPageFile}}, &env);
  env.Fail(FaultOp::kWrite, EIO, 2);
  EXPECT_EQ(store->Put(Page("f", 0), PageBytes(100, 0)).code(), StatusCode::kIoError);
  EXPECT_EQ(store->Put(Page("f", 1), PageBytes(100, 1)).code(), StatusCode::kIoError);
  EXPECT_TRUE(store->Stats().dirs[0].healthy);
  ASSERT_TRUE(store->Put(Page("f", 2), PageBytes(100, 2)).ok());  // resets the streak
  env.Fail(FaultOp::kWrite, EIO, 3);
  for (std::uint64_t i = 3; i < 6; ++i) {
    EXPECT_FALSE(store->Put(Page("f", i), PageBytes(100, i)).ok());
  }
  const PageStoreStats s = store->Stats();
  EXPECT_FALSE(s.dirs[0].healthy);
  EXPECT_EQ(s.dir_errors, 5U);
  EXPECT_EQ(s.dirs[0].errors, 5U);
}

TEST(CacheDirTest, DirRemovedWhileServingKeepsTheStoreWorking) {
  TempDir tmp;
  auto store = OpenDirs({{tmp.Sub("a"), 1000 * kPageFile}, {tmp.Sub("b"), 1000 * kPageFile}});
  constexpr std::uint64_t kPages = 100;
  for (std::uint64_t i = 0; i < kPages; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(1000, i)).ok());
  }
  const std::uint64_t in_a = store->Stats().dirs[0].pages;
  ASSERT_GT(in_a, 0U);
  std::filesystem::remove_all(tmp.Sub("a"));

  // Pages of the lost dir miss (and are refetched into the other); the rest still hit.
  std::uint64_t hits = 0;
  for (std::uint64_t i = 0; i < kPages; ++i) {
    auto h = store->Get(Page("f", i), 0, 1000);
    if (h.ok()) {
      ++hits;
      EXPECT_EQ(ReadHandle(*h), PageBytes(1000, i));
    } else {
      EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
      EXPECT_TRUE(store->Put(Page("f", i), PageBytes(1000, i)).ok());
    }
  }
  EXPECT_EQ(hits, kPages - in_a);
  PageStoreStats s = store->Stats();
  EXPECT_FALSE(s.dirs[0].healthy);
  EXPECT_TRUE(s.dirs[1].healthy);
  EXPECT_GE(s.dir_errors, 1U);
  EXPECT_EQ(s.dirs[1].pages, kPages);
  for (std::uint64_t i = 0; i < kPages; ++i) {
    auto h = store->Get(Page("f", i), 0, 1000);
    ASSERT_TRUE(h.ok()) << i;
    EXPECT_EQ(ReadHandle(*h), PageBytes(1000, i));
  }
}

TEST(CacheDirTest, UnusableDirAtOpenIsSkipped) {
  TempDir tmp;
  std::ofstream(tmp.Sub("file")) << "a file, not a dir";
  auto store = OpenDirs({{tmp.Sub("file"), 100 * kPageFile}, {tmp.Sub("b"), 100 * kPageFile}});
  const PageStoreStats s = store->Stats();
  EXPECT_FALSE(s.dirs[0].healthy);
  EXPECT_TRUE(s.dirs[1].healthy);
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(100, i)).ok());
  }
  EXPECT_EQ(store->Stats().dirs[1].pages, 10U);
}

TEST(CacheDirTest, NoDirsRejectsEverything) {
  auto store = OpenDirs({});
  EXPECT_EQ(store->Put(Page("f", 0), PageBytes(100, 0)).code(), StatusCode::kRejected);
  EXPECT_EQ(store->Get(Page("f", 0), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Stats().dirs.empty());
}

}  // namespace
}  // namespace epochcache::pagestore
