// Recovery time for 100,000 small pages. Disabled by default (it writes ~800 MB of blocks);
// run with --gtest_also_run_disabled_tests --gtest_filter='*Recovery100k*'. Timings are
// printed, never asserted: the machine is shared and noisy.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "epochcache/page_store.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

TEST(RecoveryBench, DISABLED_Recovery100kPages) {
  constexpr std::uint64_t kPages = 100'000;
  TempDir tmp;
  PageStoreOptions options;
  options.dirs = {{tmp.path(), std::uint64_t{4} << 30}};
  options.page_size = 1 << 20;
  const auto data = PageBytes(512, 1);
  const auto write_start = std::chrono::steady_clock::now();
  {
    auto store = PageStore::Open(options);
    ASSERT_TRUE(store.ok());
    for (std::uint64_t i = 0; i < kPages; ++i) {
      ASSERT_TRUE(
          (*store)
              ->Put(PageId{MakeFileKey("file-" + std::to_string(i / 10), "v"), i % 10}, data)
              .ok());
    }
  }
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  auto store = PageStore::Open(options);
  ASSERT_TRUE(store.ok());
  const PageStoreStats s = (*store)->Stats();
  EXPECT_EQ(s.recovered_pages, kPages);
  std::printf("wrote %llu pages in %.2fs; recovered %llu pages in %.3fs (page cache warm)\n",
              static_cast<unsigned long long>(kPages), write_s,
              static_cast<unsigned long long>(s.recovered_pages), s.recovery_seconds);
}

}  // namespace
}  // namespace epochcache::pagestore
