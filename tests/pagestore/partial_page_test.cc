// Partial pages: a page filled chunk by chunk, each chunk checksummed, the chunks present
// recorded in the header (format version 2), recovered at start (a chunk counts only if it
// verifies), accounted by the bytes present, and version 1 pages still read.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <thread>

#include "epochcache/page_store.h"
#include "pagestore/page_format.h"
#include "support/fault_env.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_support::FaultEnv;

constexpr std::uint64_t kChunk = PageStore::kChunkSize;
constexpr std::uint64_t kPageSize = 4 * kChunk;

std::unique_ptr<PageStore> Open(const std::string& dir, Env* env = nullptr,
                                std::uint64_t capacity = 100 * (kPageSize + kPageHeaderBytes)) {
  return OpenTestStore({{dir, capacity}}, kPageSize, EvictionPolicy::kLru, env);
}

// Chunks [first, end) of `page` (a whole page's bytes).
std::span<const std::byte> Chunks(const std::vector<std::byte>& page, std::uint64_t first,
                                  std::uint64_t end) {
  const std::uint64_t stop = std::min<std::uint64_t>(end * kChunk, page.size());
  return std::span<const std::byte>(page).subspan(first * kChunk, stop - first * kChunk);
}

Status Fill(PageStore& store, const PageId& id, const std::vector<std::byte>& page,
            std::uint64_t first, std::uint64_t end) {
  return store.PutChunks(id, page.size(), first * kChunk, Chunks(page, first, end));
}

// The bytes [offset, offset + length) of the page as the store serves them; empty on a miss.
std::vector<std::byte> Served(PageStore& store, const PageId& id, std::uint64_t offset,
                              std::uint64_t length) {
  auto h = store.Get(id, offset, length);
  if (!h.ok()) return {};
  return ReadHandle(*h);
}

std::vector<std::byte> Slice(const std::vector<std::byte>& page, std::uint64_t offset,
                             std::uint64_t length) {
  return {page.begin() + static_cast<std::ptrdiff_t>(offset),
          page.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

void FlipByte(const std::string& path, std::uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

TEST(PartialPageTest, FillsChunkByChunkAndServesOnlyWhatIsPresent) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 7);

  ASSERT_TRUE(Fill(*store, id, page, 1, 2).ok());
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(Served(*store, id, kChunk + 100, 5000), Slice(page, kChunk + 100, 5000));
  EXPECT_EQ(store->Get(id, 0, 1).status().code(), StatusCode::kNotFound);
  // A range reaching into a missing chunk is a miss, not a partial answer.
  EXPECT_EQ(store->Get(id, 2 * kChunk - 10, 20).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(std::filesystem::file_size(PagePath(tmp.path(), id)), kPageHeaderBytes + kChunk);
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, kPageHeaderBytes + kChunk);

  ASSERT_TRUE(Fill(*store, id, page, 2, 4).ok());
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, true, true, true}));
  // Present chunks are packed: a range over several is one run of the file.
  EXPECT_EQ(Served(*store, id, kChunk, 3 * kChunk), Slice(page, kChunk, 3 * kChunk));
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, kPageHeaderBytes + 3 * kChunk);

  ASSERT_TRUE(Fill(*store, id, page, 0, 1).ok());
  EXPECT_EQ(Served(*store, id, 0, kPageSize), page);
  EXPECT_EQ(std::filesystem::file_size(PagePath(tmp.path(), id)), kPageHeaderBytes + kPageSize);
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.chunks_filled, 4U);
  EXPECT_EQ(s.dirs[0].used_bytes, kPageHeaderBytes + kPageSize);
  EXPECT_EQ(s.dirs[0].pages, 1U);

  // Chunks it has already are not written again.
  ASSERT_TRUE(Fill(*store, id, page, 1, 3).ok());
  EXPECT_EQ(store->Stats().chunks_filled, 4U);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
}

TEST(PartialPageTest, ShortLastPageFillsItsShortChunk) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 3);
  const auto page = PageBytes(2 * kChunk + 1234, 3);
  ASSERT_TRUE(Fill(*store, id, page, 2, 3).ok());
  EXPECT_EQ(Served(*store, id, 2 * kChunk, 1234), Slice(page, 2 * kChunk, 1234));
  ASSERT_TRUE(Fill(*store, id, page, 0, 2).ok());
  EXPECT_EQ(Served(*store, id, 0, page.size()), page);
  EXPECT_EQ(store->Get(id, 0, page.size() + 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(PartialPageTest, RefusesRangesThatAreNotWholeChunks) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 1);
  EXPECT_EQ(store->PutChunks(id, kPageSize, 100, Chunks(page, 0, 1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutChunks(id, kPageSize, 0, Slice(page, 0, kChunk + 1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutChunks(id, kPageSize + 1, 0, Chunks(page, 0, 1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutChunks(id, kPageSize, 3 * kChunk, Chunks(page, 2, 4)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(PageFiles(tmp.path()).empty());
}

TEST(PartialPageTest, PartialPagesSurviveARestart) {
  TempDir tmp;
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 9);
  {
    auto store = Open(tmp.path());
    ASSERT_TRUE(Fill(*store, id, page, 1, 2).ok());
    ASSERT_TRUE(Fill(*store, id, page, 3, 4).ok());
  }
  auto store = Open(tmp.path());
  EXPECT_EQ(store->Stats().recovered_pages, 1U);
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, kPageHeaderBytes + 2 * kChunk);
  EXPECT_EQ(Served(*store, id, 3 * kChunk, kChunk), Slice(page, 3 * kChunk, kChunk));
  ASSERT_TRUE(Fill(*store, id, page, 0, 1).ok());
  ASSERT_TRUE(Fill(*store, id, page, 2, 3).ok());
  EXPECT_EQ(Served(*store, id, 0, kPageSize), page);
}

TEST(PartialPageTest, TornPartialPageKeepsOnlyChunksThatVerify) {
  TempDir tmp;
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 11);
  {
    auto store = Open(tmp.path());
    ASSERT_TRUE(Fill(*store, id, page, 1, 3).ok());
  }
  // Chunk 2 is the second present chunk in the file: garble it as a torn write would.
  FlipByte(PagePath(tmp.path(), id), kPageHeaderBytes + kChunk + 10);
  auto store = Open(tmp.path());
  EXPECT_EQ(store->Stats().recovered_pages, 1U);
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(Served(*store, id, kChunk, kChunk), Slice(page, kChunk, kChunk));
  EXPECT_EQ(store->Get(id, 2 * kChunk, 1).status().code(), StatusCode::kNotFound);
  // Refilling the bad chunk writes it anew; the good one is kept.
  ASSERT_TRUE(Fill(*store, id, page, 2, 3).ok());
  EXPECT_EQ(Served(*store, id, kChunk, 2 * kChunk), Slice(page, kChunk, 2 * kChunk));
}

TEST(PartialPageTest, PartialPageWithNoGoodChunkOrCutShortIsDiscarded) {
  TempDir tmp;
  const auto page = PageBytes(kPageSize, 12);
  {
    auto store = Open(tmp.path());
    ASSERT_TRUE(Fill(*store, Page("f", 0), page, 1, 2).ok());
    ASSERT_TRUE(Fill(*store, Page("f", 1), page, 0, 2).ok());
  }
  FlipByte(PagePath(tmp.path(), Page("f", 0)), kPageHeaderBytes + 5);
  std::filesystem::resize_file(PagePath(tmp.path(), Page("f", 1)), kPageHeaderBytes + kChunk);
  auto store = Open(tmp.path());
  EXPECT_EQ(store->Stats().recovered_pages, 0U);
  EXPECT_EQ(store->Stats().discarded_files, 2U);
  EXPECT_TRUE(PageFiles(tmp.path()).empty());
}

TEST(PartialPageTest, EveryChunkIsVerifiedOnRead) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 13);
  ASSERT_TRUE(Fill(*store, id, page, 2, 3).ok());
  FlipByte(PagePath(tmp.path(), id), kPageHeaderBytes + 77);
  EXPECT_EQ(store->Get(id, 2 * kChunk + 1000, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().checksum_failures, 1U);
  EXPECT_TRUE(store->PresentChunks(id).empty());
  EXPECT_TRUE(PageFiles(tmp.path()).empty());
}

TEST(PartialPageTest, FillDoesNotCopyAChunkThatNoLongerVerifies) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 14);
  ASSERT_TRUE(Fill(*store, id, page, 0, 1).ok());
  FlipByte(PagePath(tmp.path(), id), kPageHeaderBytes + 3);
  ASSERT_TRUE(Fill(*store, id, page, 1, 2).ok());
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(store->Get(id, 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Served(*store, id, kChunk, kChunk), Slice(page, kChunk, kChunk));
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, kPageHeaderBytes + kChunk);
}

TEST(PartialPageTest, VersionOnePagesAreStillRead) {
  TempDir tmp;
  const PageId id = Page("f", 2);
  const auto page = PageBytes(kPageSize, 15);
  {
    auto store = Open(tmp.path());  // makes the directory skeleton
  }
  const std::string path = PagePath(tmp.path(), id);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  {
    const auto header = EncodeHeaderV1(id, kPageSize, page);
    ASSERT_EQ(header.size(), kPageHeaderBytes);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(header.data()),
              static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(page.data()),
              static_cast<std::streamsize>(page.size()));
  }
  auto store = Open(tmp.path());
  EXPECT_EQ(store->Stats().recovered_pages, 1U);
  EXPECT_EQ(store->PresentChunks(id), std::vector<bool>(4, true));
  EXPECT_EQ(Served(*store, id, 0, kPageSize), page);
  EXPECT_EQ(Served(*store, id, kChunk + 5, 2 * kChunk), Slice(page, kChunk + 5, 2 * kChunk));
}

TEST(PartialPageTest, GrowingAPageEvictsOthersByBytesPresent) {
  TempDir tmp;
  // Room for exactly two headers and five chunks.
  auto store = Open(tmp.path(), nullptr, 2 * kPageHeaderBytes + 5 * kChunk);
  const auto a = PageBytes(kPageSize, 1);
  const auto b = PageBytes(kPageSize, 2);
  ASSERT_TRUE(Fill(*store, Page("f", 0), a, 0, 1).ok());
  ASSERT_TRUE(Fill(*store, Page("f", 1), b, 0, 4).ok());
  EXPECT_EQ(store->Stats().dirs[0].pages, 2U);  // partial pages take only what they hold
  ASSERT_TRUE(Fill(*store, Page("f", 1), b, 0, 4).ok());
  // Page 0 grows past the room left: the least recently used other page goes.
  ASSERT_TRUE(Fill(*store, Page("f", 0), a, 1, 3).ok());
  const PageStoreStats s = store->Stats();
  EXPECT_EQ(s.evictions, 1U);
  EXPECT_EQ(s.dirs[0].pages, 1U);
  EXPECT_EQ(s.dirs[0].used_bytes, kPageHeaderBytes + 3 * kChunk);
  EXPECT_TRUE(store->PresentChunks(Page("f", 1)).empty());
  EXPECT_EQ(Served(*store, Page("f", 0), 0, 3 * kChunk), Slice(a, 0, 3 * kChunk));
}

TEST(PartialPageTest, ConcurrentFillsOfOnePageKeepEveryChunk) {
  TempDir tmp;
  auto store = Open(tmp.path());
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 16);
  for (int round = 0; round < 20; ++round) {
    store->EvictFile(id.file_key);
    std::vector<std::jthread> fillers;
    for (std::uint64_t c = 0; c < 4; ++c) {
      fillers.emplace_back([&, c] { EXPECT_TRUE(Fill(*store, id, page, c, c + 1).ok()); });
    }
    fillers.clear();
    // A fill racing the first write of the page may find it pending and skip; every other
    // fill waits for the one before and merges.
    for (std::uint64_t c = 0; c < 4; ++c) {
      if (store->Get(id, c * kChunk, kChunk).ok()) {
        EXPECT_EQ(Served(*store, id, c * kChunk, kChunk), Slice(page, c * kChunk, kChunk));
      }
    }
    for (std::uint64_t c = 0; c < 4; ++c) ASSERT_TRUE(Fill(*store, id, page, c, c + 1).ok());
    ASSERT_EQ(Served(*store, id, 0, kPageSize), page) << round;
  }
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
}

TEST(PartialPageTest, DiskFullWhileFillingLeavesTheOldChunksAndNoWrongBytes) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open(tmp.path(), &env);
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 17);
  ASSERT_TRUE(Fill(*store, id, page, 0, 1).ok());
  env.TearWrites(kChunk / 2, ENOSPC);
  EXPECT_EQ(Fill(*store, id, page, 1, 3).code(), StatusCode::kRejected);
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(Served(*store, id, 0, kChunk), Slice(page, 0, kChunk));
  EXPECT_EQ(store->Get(id, kChunk, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
  EXPECT_EQ(store->Stats().dirs[0].used_bytes, kPageHeaderBytes + kChunk);
  store.reset();
  store = Open(tmp.path());
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(Served(*store, id, 0, kChunk), Slice(page, 0, kChunk));
}

TEST(PartialPageTest, FailedWriteWhileFillingLeavesTheOldChunksAndNoWrongBytes) {
  TempDir tmp;
  FaultEnv env;
  auto store = Open(tmp.path(), &env);
  const PageId id = Page("f", 0);
  const auto page = PageBytes(kPageSize, 18);
  ASSERT_TRUE(Fill(*store, id, page, 2, 3).ok());
  env.TearWrites(kChunk + 100, EIO);
  EXPECT_EQ(Fill(*store, id, page, 0, 2).code(), StatusCode::kIoError);
  EXPECT_EQ(store->PresentChunks(id), (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(Served(*store, id, 2 * kChunk, kChunk), Slice(page, 2 * kChunk, kChunk));
  EXPECT_EQ(TempFileCount(tmp.path()), 0U);
  // The next fill succeeds and merges with what was there.
  ASSERT_TRUE(Fill(*store, id, page, 0, 2).ok());
  EXPECT_EQ(Served(*store, id, 0, 3 * kChunk), Slice(page, 0, 3 * kChunk));
}

}  // namespace
}  // namespace epochcache::pagestore
