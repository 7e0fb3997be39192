// PageStore::EvictFile: dropping every page of one file (POST /v1/evict on a worker).
#include <gtest/gtest.h>

#include "epochcache/page_store.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_util::Page;
using testing_util::PageBytes;
using testing_util::PageFiles;
using testing_util::ReadHandle;
using testing_util::TempDir;

constexpr std::uint64_t kPageSize = std::uint64_t{64} * 1024;

std::unique_ptr<PageStore> OpenStore(const std::string& dir) {
  PageStoreOptions options;
  options.dirs.push_back(CacheDirOptions{dir, std::uint64_t{64} << 20});
  options.page_size = kPageSize;
  auto store = PageStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

TEST(EvictFileTest, DropsEveryPageOfTheFileAndNoOther) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const auto data = PageBytes(kPageSize, 7);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(store->Put(Page("a", i), data).ok());
  ASSERT_TRUE(store->Put(Page("b", 0), data).ok());
  ASSERT_EQ(PageFiles(tmp.path()).size(), 4u);
  const std::uint64_t used = store->Stats().dirs.at(0).used_bytes;

  EXPECT_EQ(store->EvictFile(Page("a", 0).file_key), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(store->Get(Page("a", i), 0, 1).status().code(), StatusCode::kNotFound);
  }
  auto b = store->Get(Page("b", 0), 0, kPageSize);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ReadHandle(*b), data);
  EXPECT_EQ(PageFiles(tmp.path()).size(), 1u);  // the files are gone, not just the index
  EXPECT_EQ(store->Stats().dirs.at(0).used_bytes, used / 4);
  EXPECT_EQ(store->Stats().evictions, 0u);  // not the policy's evictions

  // Idempotent, and the file can be cached again.
  EXPECT_EQ(store->EvictFile(Page("a", 0).file_key), 0u);
  ASSERT_TRUE(store->Put(Page("a", 1), data).ok());
  EXPECT_TRUE(store->Get(Page("a", 1), 0, 1).ok());
}

TEST(EvictFileTest, AHeldPageStaysReadableAfterEviction) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const auto data = PageBytes(kPageSize, 9);
  ASSERT_TRUE(store->Put(Page("a", 0), data).ok());
  auto held = store->Get(Page("a", 0), 0, kPageSize);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(store->EvictFile(Page("a", 0).file_key), 1u);
  EXPECT_EQ(ReadHandle(*held), data);  // a sender mid-sendfile keeps its bytes
}

TEST(EvictFileTest, SurvivesARestartAsEvicted) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path());
    ASSERT_TRUE(store->Put(Page("a", 0), PageBytes(kPageSize, 1)).ok());
    EXPECT_EQ(store->EvictFile(Page("a", 0).file_key), 1u);
  }
  auto reopened = OpenStore(tmp.path());
  EXPECT_EQ(reopened->Get(Page("a", 0), 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reopened->Stats().recovered_pages, 0u);
}

}  // namespace
}  // namespace epochcache::pagestore
