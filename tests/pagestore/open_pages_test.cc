// Page files held open between reads: a chunk is verified once per interval, not per read; a
// file written to since it was opened, or replaced by a fill, is never read through a stale
// descriptor; evicted pages' files are closed; the number of open files is bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "epochcache/page_store.h"
#include "support/fault_env.h"
#include "support/manual_clock.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_support::FaultEnv;
using testing_support::FaultOp;
using namespace std::chrono_literals;

constexpr std::uint64_t kPageSize = std::uint64_t{256} * 1024;  // four checksum chunks
constexpr std::uint64_t kChunk = PageStore::kChunkSize;

struct Fixture {
  TempDir tmp;
  FaultEnv env;
  testing::ManualClock clock;
  std::unique_ptr<PageStore> store;

  explicit Fixture(std::size_t max_open_pages = 8, std::chrono::nanoseconds interval = 60s) {
    PageStoreOptions options;
    options.dirs = {{tmp.path(), 64 * (kPageSize + kPageHeaderBytes)}};
    options.page_size = kPageSize;
    options.eviction_policy = EvictionPolicy::kLru;
    options.env = &env;
    options.clock = &clock;
    options.verify_interval = interval;
    options.max_open_pages = max_open_pages;
    auto opened = PageStore::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) store = std::move(opened).value();
  }

  std::vector<std::byte> Read(const PageId& id, std::uint64_t offset, std::uint64_t length) {
    auto h = store->Get(id, offset, length);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? ReadHandle(*h) : std::vector<std::byte>{};
  }
};

std::vector<std::byte> Slice(const std::vector<std::byte>& data, std::uint64_t offset,
                             std::uint64_t length) {
  return {data.begin() + static_cast<std::ptrdiff_t>(offset),
          data.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

// Flips one bit of the page file at `at` (a file offset), as a process writing into the cache
// dir would, and moves the file's mtime so that the change shows even on a file system whose
// timestamps are coarser than the time between the page's write and this one.
void FlipByteInFile(const std::string& path, std::uint64_t at) {
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    const int byte = f.get();
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(byte ^ 0x01));
  }
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - 1h);
}

// Descriptors of this process on files under `dir` (deleted or not).
int DescriptorsOn(const std::string& dir) {
  const std::string path = std::filesystem::canonical(dir).string() + "/";
  int n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.starts_with(path)) ++n;
  }
  return n;
}

TEST(OpenPagesTest, AChunkIsVerifiedOncePerIntervalNotPerRead) {
  Fixture f;
  const auto data = PageBytes(kPageSize, 1);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(f.store->Put(id, data).ok());

  EXPECT_EQ(f.Read(id, 100, 4096), Slice(data, 100, 4096));
  EXPECT_EQ(f.store->Stats().verified_bytes, kChunk);  // the one chunk around the range
  EXPECT_EQ(f.store->Stats().open_pages, 1U);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(f.Read(id, 8192 + i, 4096), Slice(data, 8192 + i, 4096));
  }
  EXPECT_EQ(f.store->Stats().verified_bytes, kChunk);  // nothing read again
  // A range reaching into chunks not yet verified reads just those.
  EXPECT_EQ(f.Read(id, kChunk - 10, kChunk + 20), Slice(data, kChunk - 10, kChunk + 20));
  EXPECT_EQ(f.store->Stats().verified_bytes, 3 * kChunk);

  // A disk that now returns flipped bits goes unnoticed within the interval (nothing is
  // read back) and is caught once the interval has passed.
  f.env.CorruptReads(1);
  EXPECT_EQ(f.Read(id, 0, 10), Slice(data, 0, 10));
  EXPECT_EQ(f.env.injected(FaultOp::kRead), 0);
  f.clock.Advance(61s);
  EXPECT_EQ(f.store->Get(id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.env.injected(FaultOp::kRead), 1);
  EXPECT_EQ(f.store->Stats().checksum_failures, 1U);
  EXPECT_EQ(f.store->Stats().open_pages, 0U);
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 0);
}

TEST(OpenPagesTest, ZeroIntervalVerifiesEveryRead) {
  Fixture f(8, 0s);
  const auto data = PageBytes(kPageSize, 2);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(f.store->Put(id, data).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.Read(id, 10, 100), Slice(data, 10, 100));
  EXPECT_EQ(f.store->Stats().verified_bytes, 3 * kChunk);
}

TEST(OpenPagesTest, AFileWrittenToAfterItWasOpenedIsVerifiedAfresh) {
  Fixture f;
  const auto data = PageBytes(kPageSize, 3);
  const PageId id = Page("f", 0);
  ASSERT_TRUE(f.store->Put(id, data).ok());
  EXPECT_EQ(f.Read(id, 0, 1000), Slice(data, 0, 1000));  // opened and verified

  FlipByteInFile(PagePath(f.tmp.path(), id), kPageHeaderBytes + 500);
  EXPECT_EQ(f.store->Get(id, 0, 1000).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.store->Stats().checksum_failures, 1U);
  EXPECT_FALSE(std::filesystem::exists(PagePath(f.tmp.path(), id)));
}

TEST(OpenPagesTest, AFillThatReplacesTheFileIsReadFromTheNewFile) {
  Fixture f;
  const auto data = PageBytes(kPageSize, 4);
  const PageId id = Page("f", 0);
  const std::span<const std::byte> all(data);
  ASSERT_TRUE(f.store->PutChunks(id, kPageSize, 0, all.subspan(0, kChunk)).ok());
  EXPECT_EQ(f.Read(id, 10, 100), Slice(data, 10, 100));  // the one-chunk file is open
  ASSERT_TRUE(f.store->PutChunks(id, kPageSize, 2 * kChunk, all.subspan(2 * kChunk, kChunk)).ok());
  // Chunk 2 is only in the new file: through the old descriptor it would look missing.
  EXPECT_EQ(f.Read(id, 2 * kChunk + 5, 100), Slice(data, 2 * kChunk + 5, 100));
  EXPECT_EQ(f.Read(id, 10, 100), Slice(data, 10, 100));
  EXPECT_EQ(f.store->Stats().checksum_failures, 0U);
  EXPECT_EQ(f.store->Stats().open_pages, 1U);
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 1);  // the old file's descriptor was closed
}

TEST(OpenPagesTest, OpenFilesAreBoundedAndClosedWhenTheirPagesGo) {
  Fixture f(/*max_open_pages=*/2);
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.store->Put(Page("f", i), PageBytes(kPageSize, 10 + i)).ok());
    EXPECT_EQ(f.Read(Page("f", i), 0, 10), Slice(PageBytes(kPageSize, 10 + i), 0, 10));
  }
  EXPECT_EQ(f.store->Stats().open_pages, 2U);
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 2);

  // A handle keeps its bytes after the page is evicted, and the descriptor closes with it.
  auto held = f.store->Get(Page("f", 4), 0, 100);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(f.store->EvictFile(Page("f", 0).file_key), 5U);
  EXPECT_EQ(f.store->Stats().open_pages, 0U);
  EXPECT_EQ(ReadHandle(*held), Slice(PageBytes(kPageSize, 14), 0, 100));
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 1);
  *held = PageHandle();
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 0);
}

TEST(OpenPagesTest, ZeroOpenPagesOpensTheFileForEveryRead) {
  Fixture f(/*max_open_pages=*/0);
  const auto data = PageBytes(kPageSize, 5);
  ASSERT_TRUE(f.store->Put(Page("f", 0), data).ok());
  EXPECT_EQ(f.Read(Page("f", 0), 0, 10), Slice(data, 0, 10));
  EXPECT_EQ(f.store->Stats().open_pages, 0U);
  EXPECT_EQ(DescriptorsOn(f.tmp.path()), 0);
}

}  // namespace
}  // namespace epochcache::pagestore
