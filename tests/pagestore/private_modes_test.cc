// Cached data is private to the worker's user: dirs 0700 and page files 0600 whatever the
// umask, and wider modes left on disk by older versions are narrowed when the store opens.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "epochcache/page_store.h"
#include "support/umask_zero.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

using testing_support::UmaskZero;

constexpr std::uint64_t kPageSize = std::uint64_t{64} * 1024;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::unique_ptr<PageStore> Open(const std::string& dir) {
  return OpenTestStore({{dir, 16 * kPageSize}}, kPageSize);
}

TEST(PrivateModesTest, NewDirsAre0700AndPageFiles0600EvenWithUmaskZero) {
  TempDir tmp;
  const std::string root = tmp.Sub("new/cache");
  const PageId id = Page("f", 0);
  {
    UmaskZero umask;
    auto store = Open(root);
    ASSERT_TRUE(store->Put(id, PageBytes(kPageSize, 1)).ok());
  }
  EXPECT_EQ(ModeOf(tmp.Sub("new")), 0700U);
  EXPECT_EQ(ModeOf(root), 0700U);
  EXPECT_EQ(ModeOf(root + "/pages"), 0700U);
  EXPECT_EQ(ModeOf(root + "/pages/" + id.file_key.substr(0, 2)), 0700U);
  EXPECT_EQ(ModeOf(PagePath(root, id)), 0600U);
}

TEST(PrivateModesTest, WiderModesFromBeforeAreNarrowedOnOpen) {
  TempDir tmp;
  const std::string root = tmp.Sub("cache");
  const PageId id = Page("f", 3);
  const std::string prefix = root + "/pages/" + id.file_key.substr(0, 2);
  {
    auto store = Open(root);
    ASSERT_TRUE(store->Put(id, PageBytes(kPageSize, 2)).ok());
  }
  ASSERT_EQ(::chmod(root.c_str(), 0777), 0);
  ASSERT_EQ(::chmod((root + "/pages").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(prefix.c_str(), 0775), 0);
  ASSERT_EQ(::chmod(PagePath(root, id).c_str(), 0644), 0);

  auto store = Open(root);
  EXPECT_EQ(ModeOf(root), 0700U);
  EXPECT_EQ(ModeOf(root + "/pages"), 0700U);
  EXPECT_EQ(ModeOf(prefix), 0700U);
  EXPECT_EQ(ModeOf(PagePath(root, id)), 0600U);
  EXPECT_TRUE(store->Get(id, 0, kPageSize).ok());  // still served: only the mode changed
}

}  // namespace
}  // namespace epochcache::pagestore
