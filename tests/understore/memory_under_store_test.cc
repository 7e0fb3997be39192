#include "understore/memory_under_store.h"

#include <gtest/gtest.h>

#include <vector>

namespace epochcache {
namespace {

TEST(MemoryUnderStoreTest, BehavesLikeADirectoryTree) {
  MemoryUnderStore store;
  store.Put("/d/a", "abc");
  store.Put("/d/e/b", "xy");
  auto dir = store.Stat("/d");
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(dir->is_directory);
  auto flat = store.List("/d/", false);
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(flat->size(), 2U);
  EXPECT_EQ((*flat)[1].path, "/d/e");
  EXPECT_TRUE((*flat)[1].is_directory);
  auto deep = store.List("/d", true);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->size(), 2U);
  EXPECT_EQ(store.Stat("/x").status().code(), StatusCode::kNotFound);
}

TEST(MemoryUnderStoreTest, CountsReadsAndDetectsChanges) {
  MemoryUnderStore store;
  store.Put("/f", "0123456789");
  const std::string v1 = store.Stat("/f")->version;
  std::vector<std::byte> buf(4);
  ASSERT_EQ(*store.ReadRange("/f", v1, 8, buf), 2U);
  EXPECT_EQ(store.bytes_read(), 2U);
  store.Put("/f", "new");
  EXPECT_EQ(store.ReadRange("/f", v1, 0, buf).status().code(), StatusCode::kChanged);
  store.InjectFailure(Status::Unavailable("down"));
  EXPECT_EQ(store.Stat("/f").status().code(), StatusCode::kUnavailable);
  store.InjectFailure(Status::Ok());
  EXPECT_TRUE(store.Stat("/f").ok());
}

}  // namespace
}  // namespace epochcache
