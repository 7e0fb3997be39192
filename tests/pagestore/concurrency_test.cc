// Many threads putting, getting and evicting at once in a small cache. Run under TSan too.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "epochcache/page_store.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

constexpr std::uint64_t kPageSize = std::uint64_t{8} * 1024;
constexpr std::uint64_t kPageFile = kPageSize + kPageHeaderBytes;

void Hammer(EvictionPolicy policy) {
  TempDir tmp;
  PageStoreOptions options;
  options.dirs = {{tmp.Sub("a"), 12 * kPageFile}, {tmp.Sub("b"), 8 * kPageFile}};
  options.page_size = kPageSize;
  options.eviction_policy = policy;
  auto opened = PageStore::Open(options);
  ASSERT_TRUE(opened.ok());
  PageStore& store = **opened;

  constexpr int kThreads = 8;
  constexpr int kOpsPerThread = 1500;
  constexpr std::uint64_t kDistinctPages = 60;
  std::atomic<std::uint64_t> wrong_bytes{0};
  std::atomic<std::uint64_t> hits{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      for (int op = 0; op < kOpsPerThread; ++op) {
        const std::uint64_t page = rng() % kDistinctPages;
        // The last page of each "file" is short, so lengths differ.
        const std::size_t size = page % 5 == 4 ? 1000 + page : kPageSize;
        const std::uint64_t offset = rng() % size;
        const std::uint64_t length = rng() % (size - offset) + 1;
        auto h = store.Get(Page("f", page), offset, length);
        if (h.ok()) {
          ++hits;
          const auto want = PageBytes(size, page);
          const auto got = ReadHandle(*h);
          if (got.size() != length ||
              !std::equal(got.begin(), got.end(),
                          want.begin() + static_cast<std::ptrdiff_t>(offset))) {
            ++wrong_bytes;
          }
        } else if (h.status().code() == StatusCode::kNotFound) {
          const Status st = store.Put(Page("f", page), PageBytes(size, page));
          if (!st.ok() && st.code() != StatusCode::kRejected) ADD_FAILURE() << st.ToString();
        } else {
          ADD_FAILURE() << h.status().ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong_bytes.load(), 0U);
  EXPECT_GT(hits.load(), 0U);
  const PageStoreStats s = store.Stats();
  EXPECT_EQ(s.checksum_failures, 0U);
  EXPECT_EQ(s.dir_errors, 0U);
  std::uint64_t pages = 0;
  for (const CacheDirStats& d : s.dirs) {
    EXPECT_LE(d.used_bytes, d.capacity_bytes);
    EXPECT_TRUE(d.healthy);
    pages += d.pages;
  }
  // The index and the disk agree: no leaked temp or evicted files.
  EXPECT_EQ(PageFiles(tmp.path()).size(), pages);
  EXPECT_EQ(s.hits, hits.load());

  // And what is on disk recovers exactly.
  opened = PageStore::Open(options);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ((*opened)->Stats().recovered_pages, pages);
  EXPECT_EQ((*opened)->Stats().discarded_files, 0U);
}

TEST(PageStoreConcurrencyTest, ManyThreadsWithLru) { Hammer(EvictionPolicy::kLru); }
TEST(PageStoreConcurrencyTest, ManyThreadsWithScanResistant) {
  Hammer(EvictionPolicy::kScanResistant);
}

}  // namespace
}  // namespace epochcache::pagestore
