// Paged listings of the in-memory twin, which the worker's unit tests stand on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "list_walk.h"
#include "understore/memory_under_store.h"

namespace epochcache {
namespace {
using testing::PathsOf;
using testing::WalkPages;

TEST(MemoryListPagingTest, PagesFollowThePathOrder) {
  MemoryUnderStore store;
  for (const char* path : {"/d/a", "/d/sub-1", "/d/sub/x", "/d/sub/y/z", "/d/sub.txt", "/e/f"}) {
    store.Put(path, "x");
  }
  const std::vector<std::string> flat = {"/d/a", "/d/sub", "/d/sub-1", "/d/sub.txt"};
  const std::vector<std::string> deep = {"/d/a", "/d/sub-1", "/d/sub.txt", "/d/sub/x",
                                         "/d/sub/y/z"};
  for (const std::size_t limit : {1, 2, 100}) {
    EXPECT_EQ(PathsOf(WalkPages(store, "/d", false, limit)), flat) << limit;
    EXPECT_EQ(PathsOf(WalkPages(store, "/d", true, limit)), deep) << limit;
  }
  auto page = store.ListAfter("/d", true, "/d/sub-1", 2);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(PathsOf(page->entries), (std::vector<std::string>{"/d/sub.txt", "/d/sub/x"}));
  EXPECT_TRUE(page->more);
  EXPECT_EQ(store.ListAfter("/d", true, "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.ListAfter("/nope", true, "", 1).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace epochcache
