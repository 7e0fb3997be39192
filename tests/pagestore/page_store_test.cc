// The page store against real files: round trips, ranges, recovery, corruption, capacity.
#include "epochcache/page_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "pagestore/page_format.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

constexpr std::uint64_t kPageSize = std::uint64_t{256} * 1024;  // four checksum chunks
constexpr std::uint64_t kFullPageFile = kPageSize + kPageHeaderBytes;

std::unique_ptr<PageStore> OpenStore(const std::string& dir, std::uint64_t capacity,
                                     EvictionPolicy policy = EvictionPolicy::kLru) {
  return OpenTestStore({{dir, capacity}}, kPageSize, policy);
}

void ExpectPage(PageStore& store, const PageId& id, const std::vector<std::byte>& data,
                std::uint64_t offset, std::uint64_t length) {
  auto h = store.Get(id, offset, length);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->length(), length);
  const std::vector<std::byte> want(data.begin() + static_cast<std::ptrdiff_t>(offset),
                                    data.begin() + static_cast<std::ptrdiff_t>(offset + length));
  EXPECT_EQ(ReadHandle(*h), want) << "range " << offset << "+" << length;
}

TEST(PageStoreTest, RoundTripIncludingShortLastPage) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 100 * kFullPageFile);
  const auto full = PageBytes(kPageSize, 1);
  const auto last = PageBytes(1000, 2);
  ASSERT_TRUE(store->Put(Page("f", 0), full).ok());
  ASSERT_TRUE(store->Put(Page("f", 1), last).ok());
  ExpectPage(*store, Page("f", 0), full, 0, kPageSize);
  ExpectPage(*store, Page("f", 1), last, 0, last.size());
  EXPECT_EQ(store->Get(Page("f", 2), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(Page("g", 0), 0, 1).status().code(), StatusCode::kNotFound);

  // The file is where docs/page-store.md says, header then data.
  struct stat st {};
  ASSERT_EQ(::stat(PagePath(tmp.path(), Page("f", 1)).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4096 + 1000);

  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.puts, 2U);
  EXPECT_EQ(s.hits, 2U);
  EXPECT_EQ(s.misses, 2U);
  ASSERT_EQ(s.dirs.size(), 1U);
  EXPECT_EQ(s.dirs[0].pages, 2U);
  EXPECT_EQ(s.dirs[0].used_bytes, kFullPageFile + 4096 + 1000);
}

TEST(PageStoreTest, RangeGetsAcrossChunks) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const auto data = PageBytes(kPageSize - 7, 3);
  ASSERT_TRUE(store->Put(Page("f", 4), data).ok());
  const std::uint64_t n = data.size();
  for (auto [off, len] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 1}, {65535, 2}, {65536, 65536}, {100000, 50000}, {n - 1, 1}, {3, 0}, {0, n}}) {
    ExpectPage(*store, Page("f", 4), data, off, len);
  }
  EXPECT_EQ(store->Get(Page("f", 4), n - 1, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Get(Page("f", 4), n + 1, 0).status().code(), StatusCode::kInvalidArgument);
  // A bad range is the caller's mistake: the page stays.
  ExpectPage(*store, Page("f", 4), data, 0, 10);
}

TEST(PageStoreTest, PutValidatesAndIsIdempotent) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const auto data = PageBytes(100, 4);
  EXPECT_EQ(store->Put(PageId{"not-a-key", 0}, data).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Put(Page("f", 0), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Put(Page("f", 0), PageBytes(kPageSize + 1, 4)).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->Put(Page("f", 0), data).ok());
  ASSERT_TRUE(store->Put(Page("f", 0), data).ok());
  EXPECT_EQ(store->Stats().puts, 1U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 1U);
}

TEST(PageStoreTest, ReopenRecoversPagesAndDiscardsTempAndPartialFiles) {
  TempDir tmp;
  std::vector<std::vector<std::byte>> data;
  {
    auto store = OpenStore(tmp.path(), 100 * kFullPageFile);
    for (std::uint64_t i = 0; i < 10; ++i) {
      data.push_back(PageBytes(i == 9 ? 12345 : kPageSize, 10 + i));
      ASSERT_TRUE(store->Put(Page("f", i), data.back()).ok());
    }
  }
  const std::string prefix = tmp.path() + "/pages/" + Page("f", 0).file_key.substr(0, 2);
  const std::string temp = PagePath(tmp.path(), Page("f", 0)) + ".123-0.tmp";
  std::ofstream(temp) << "half a page";
  std::filesystem::resize_file(PagePath(tmp.path(), Page("f", 3)), 4096 + 1000);
  const std::string notes = prefix + "/notes.txt";
  std::ofstream(notes) << "not ours";

  auto store = OpenStore(tmp.path(), 100 * kFullPageFile);
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.recovered_pages, 9U);
  EXPECT_EQ(s.discarded_files, 2U);
  EXPECT_GE(s.recovery_seconds, 0.0);
  EXPECT_EQ(s.dirs[0].pages, 9U);
  EXPECT_EQ(s.dirs[0].used_bytes, 8 * kFullPageFile + 4096 + 12345);
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_FALSE(std::filesystem::exists(PagePath(tmp.path(), Page("f", 3))));
  EXPECT_TRUE(std::filesystem::exists(notes));  // never delete what we did not write
  for (std::uint64_t i = 0; i < 10; ++i) {
    if (i == 3) {
      EXPECT_EQ(store->Get(Page("f", i), 0, 1).status().code(), StatusCode::kNotFound);
    } else {
      ExpectPage(*store, Page("f", i), data[i], 0, data[i].size());
    }
  }
}

TEST(PageStoreTest, RecoveryDoesNotFollowASymlinkedPrefixDir) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.Sub("c"), 100 * kFullPageFile);
    ASSERT_TRUE(store->Put(Page("f", 0), PageBytes(100, 0)).ok());
  }
  // The prefix dir moves elsewhere and a symlink takes its place: recovery must neither index
  // nor delete anything outside the cache dir.
  const std::string name = Page("f", 0).file_key.substr(0, 2);
  const std::string prefix = tmp.Sub("c") + "/pages/" + name;
  std::filesystem::create_directory(tmp.Sub("elsewhere"));
  std::filesystem::rename(prefix, tmp.Sub("elsewhere/" + name));
  std::filesystem::create_directory_symlink(tmp.Sub("elsewhere/" + name), prefix);
  const std::string temp = tmp.Sub("elsewhere/" + name + "/someone-elses.tmp");
  std::ofstream(temp) << "not ours";

  auto store = OpenStore(tmp.Sub("c"), 100 * kFullPageFile);
  EXPECT_EQ(store->Stats().recovered_pages, 0U);
  EXPECT_EQ(store->Stats().discarded_files, 0U);
  EXPECT_TRUE(std::filesystem::exists(temp));
  EXPECT_EQ(PageFiles(tmp.Sub("elsewhere")).size(), 2U);
}

TEST(PageStoreTest, ReopenWithDifferentPageSizeDiscardsPages) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path(), 100 * kFullPageFile);
    ASSERT_TRUE(store->Put(Page("f", 0), PageBytes(100, 1)).ok());
  }
  PageStoreOptions options;
  options.dirs.push_back(CacheDirOptions{tmp.path(), 100 * kFullPageFile});
  options.page_size = kPageSize * 2;
  auto store = PageStore::Open(options);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Stats().recovered_pages, 0U);
  EXPECT_EQ((*store)->Stats().discarded_files, 1U);
}

TEST(PageStoreTest, ReopenWithSmallerCapacityEvicts) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path(), 100 * kFullPageFile);
    for (std::uint64_t i = 0; i < 10; ++i) {
      ASSERT_TRUE(store->Put(Page("f", i), PageBytes(kPageSize, i)).ok());
    }
  }
  auto store = OpenStore(tmp.path(), 4 * kFullPageFile);
  EXPECT_EQ(store->Stats().dirs[0].pages, 4U);
  EXPECT_EQ(store->Stats().evictions, 6U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 4U);
}

TEST(PageStoreTest, BitFlipIsDetectedDroppedAndRefetchable) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const auto data = PageBytes(kPageSize, 5);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(store->Put(id, data).ok());
  {
    std::fstream f(PagePath(tmp.path(), id), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 200000);
    f.put(static_cast<char>(std::to_integer<char>(data[200000]) ^ 0x01));
  }
  // A range in an intact chunk is still served: only covered chunks are verified.
  ExpectPage(*store, id, data, 0, 1000);
  auto bad = store->Get(id, 199000, 2000);
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().checksum_failures, 1U);
  EXPECT_FALSE(std::filesystem::exists(PagePath(tmp.path(), id)));
  EXPECT_EQ(store->Get(id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().dirs[0].pages, 0U);
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, 0U);
  // The caller refetches and puts it again.
  ASSERT_TRUE(store->Put(id, data).ok());
  ExpectPage(*store, id, data, 0, kPageSize);
  EXPECT_EQ(store->Stats().checksum_failures, 1U);
}

TEST(PageStoreTest, HeaderCorruptionIsDetected) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(store->Put(id, PageBytes(5000, 6)).ok());
  {
    std::fstream f(PagePath(tmp.path(), id), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24);  // data_length
    f.put('\x7f');
  }
  EXPECT_EQ(store->Get(id, 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().checksum_failures, 1U);
}

TEST(PageStoreTest, TruncationIsDetected) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(store->Put(id, PageBytes(kPageSize, 7)).ok());
  std::filesystem::resize_file(PagePath(tmp.path(), id), 4096 + 70000);
  // Even a range that lies entirely within what is left is refused.
  EXPECT_EQ(store->Get(id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().checksum_failures, 1U);
  EXPECT_FALSE(std::filesystem::exists(PagePath(tmp.path(), id)));
}

TEST(PageStoreTest, MissingFileIsAMiss) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 10 * kFullPageFile);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(store->Put(id, PageBytes(100, 7)).ok());
  std::filesystem::remove(PagePath(tmp.path(), id));
  EXPECT_EQ(store->Get(id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().dirs[0].pages, 0U);
  EXPECT_TRUE(store->Stats().dirs[0].healthy);
  EXPECT_TRUE(store->Put(id, PageBytes(100, 7)).ok());
}

TEST(PageStoreTest, LruEvictsLeastRecentlyUsedWithinCapacity) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 4 * kFullPageFile, EvictionPolicy::kLru);
  for (std::uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(kPageSize, i)).ok());
  }
  ASSERT_TRUE(store->Get(Page("f", 0), 0, 1).ok());  // 1 is now the oldest
  ASSERT_TRUE(store->Put(Page("f", 4), PageBytes(kPageSize, 4)).ok());
  ASSERT_TRUE(store->Put(Page("f", 5), PageBytes(kPageSize, 5)).ok());
  EXPECT_TRUE(store->Get(Page("f", 0), 0, 1).ok());
  EXPECT_FALSE(store->Get(Page("f", 1), 0, 1).ok());
  EXPECT_FALSE(store->Get(Page("f", 2), 0, 1).ok());
  EXPECT_TRUE(store->Get(Page("f", 5), 0, 1).ok());
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.evictions, 2U);
  EXPECT_EQ(s.dirs[0].used_bytes, 4 * kFullPageFile);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 4U);
  // A page larger than the whole capacity is rejected, not an error.
  auto tiny = OpenStore(tmp.Sub("tiny"), 1000);
  EXPECT_EQ(tiny->Put(Page("f", 0), PageBytes(100, 1)).code(), StatusCode::kRejected);
  EXPECT_EQ(tiny->Stats().rejected_puts, 1U);
}

TEST(PageStoreTest, ScanResistantStoreKeepsResidentsAgainstAScan) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 4 * kFullPageFile, EvictionPolicy::kScanResistant);
  for (std::uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(store->Put(Page("f", i), PageBytes(kPageSize, i)).ok());
  }
  // Pages seen once do not displace pages seen as often.
  for (std::uint64_t i = 4; i < 8; ++i) {
    EXPECT_EQ(store->Put(Page("f", i), PageBytes(kPageSize, i)).code(), StatusCode::kRejected);
  }
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(store->Get(Page("f", i), 0, 1).ok());
  EXPECT_EQ(store->Stats().rejected_puts, 4U);
  EXPECT_EQ(store->Stats().evictions, 0U);
}

TEST(PageStoreTest, HandleOutlivesEviction) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), 1 * kFullPageFile, EvictionPolicy::kLru);
  const auto data = PageBytes(kPageSize, 8);
  ASSERT_TRUE(store->Put(Page("f", 0), data).ok());
  auto h = store->Get(Page("f", 0), 100, 5000);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(store->Put(Page("f", 1), PageBytes(kPageSize, 9)).ok());  // evicts page 0
  EXPECT_FALSE(std::filesystem::exists(PagePath(tmp.path(), Page("f", 0))));
  EXPECT_EQ(ReadHandle(*h), std::vector<std::byte>(data.begin() + 100, data.begin() + 5100));
  PageHandle moved = std::move(*h);
  EXPECT_EQ(h->fd(), -1);
  EXPECT_EQ(ReadHandle(moved).size(), 5000U);
}

TEST(PageStoreTest, MakeFileKeyIsStableAndSeparatesFields) {
  const std::string k = MakeFileKey("/data/a.parquet", "etag-1");
  EXPECT_EQ(k.size(), 32U);
  EXPECT_TRUE(IsValidFileKey(k));
  EXPECT_EQ(k, MakeFileKey("/data/a.parquet", "etag-1"));
  EXPECT_NE(k, MakeFileKey("/data/a.parquet", "etag-2"));
  EXPECT_NE(MakeFileKey("a", "bc"), MakeFileKey("ab", "c"));
  // Pinned: a later version must find pages written by this one.
  EXPECT_EQ(MakeFileKey("s3://bucket/train/x.parquet", "\"etag-1\""),
            "4eaab17e8bb57f3cf812221797115968");
}

TEST(PageStoreTest, EvictionPolicyNames) {
  EXPECT_EQ(EvictionPolicyName(EvictionPolicy::kLru), "lru");
  EXPECT_EQ(*ParseEvictionPolicy("scan-resistant"), EvictionPolicy::kScanResistant);
  EXPECT_EQ(ParseEvictionPolicy("fifo").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PageStoreOptions{}.eviction_policy, EvictionPolicy::kScanResistant);
}

TEST(PageStoreTest, OpenValidatesOptions) {
  PageStoreOptions options;
  options.page_size = 0;
  EXPECT_EQ(PageStore::Open(options).status().code(), StatusCode::kInvalidArgument);
  TempDir tmp;
  options.page_size = kPageSize;
  options.dirs = {{tmp.path(), 100}, {tmp.path() + "/", 100}};
  EXPECT_EQ(PageStore::Open(options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace epochcache::pagestore

namespace epochcache::pagestore {
namespace {

// The policy simulation, through the real store: read-through epochs over a dataset twice
// the cache, each epoch in a new random order.
double EpochHitRate(EvictionPolicy policy) {
  TempDir tmp;
  constexpr std::uint64_t kSmallPage = 1024;
  constexpr std::uint64_t kCachePages = 100;
  PageStoreOptions options;
  options.dirs = {{tmp.path(), kCachePages * (kSmallPage + 4096)}};
  options.page_size = kSmallPage;
  options.eviction_policy = policy;
  auto store = PageStore::Open(options);
  EXPECT_TRUE(store.ok());
  std::vector<std::uint64_t> order(2 * kCachePages);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(7);
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
  for (int epoch = 1; epoch <= 5; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::uint64_t page : order) {
      if ((*store)->Get(Page("data", page), 0, kSmallPage).ok()) {
        hits += epoch >= 2 ? 1 : 0;
      } else {
        (void)(*store)->Put(Page("data", page), PageBytes(kSmallPage, page));
      }
      reads += epoch >= 2 ? 1 : 0;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(reads);
}

TEST(PageStoreTest, EpochsThroughTheStoreKeepAStableSubset) {
  EXPECT_GE(EpochHitRate(EvictionPolicy::kScanResistant), 0.40);
  EXPECT_LT(EpochHitRate(EvictionPolicy::kLru), 0.25);
}

}  // namespace
}  // namespace epochcache::pagestore
