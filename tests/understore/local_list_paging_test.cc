// Paged listings of a local directory tree: path order (a subdirectory "sub" sorts before
// "sub-1" but its files after it), every entry exactly once at every page size, starts inside
// and outside the tree, and directories wider than one pass of names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "list_walk.h"
#include "local_fixture.h"
#include "understore/local_under_store.h"

namespace epochcache {
namespace {
namespace fs = std::filesystem;
using testing::PathsOf;
using testing::WalkPages;

class LocalListPagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    for (const char* file : {"d/a", "d/sub-1", "d/sub.txt", "d/sub!", "d/sub/x", "d/sub/y/z",
                             "d/sub/y-1", "d/sub/y.z", "d/sub-2/deep", "d/e.x/f", "d/e.x.y", "d/z",
                             "d/b c+d", "d/q.r/s.t/u", "d/q.r.s/v", "other/a"}) {
      Write(root_ / file);
    }
    fs::create_directories(root_ / "d" / "empty");
    fs::create_symlink("a", root_ / "d" / "link-to-a");  // inside the root: listed
    store_ = testing::OpenLocalStore(root_.string());
    ASSERT_NE(store_, nullptr);
  }

  static void Write(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << p.filename().string();
  }

  // What a listing of `dir` holds, from std::filesystem: the entries directly inside, or
  // every file below; sorted by path.
  static std::vector<std::string> Expected(const fs::path& dir, bool recursive) {
    std::vector<std::string> paths;
    if (recursive) {
      for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_directory()) paths.push_back(e.path().string());
      }
    } else {
      for (const auto& e : fs::directory_iterator(dir)) paths.push_back(e.path().string());
    }
    std::sort(paths.begin(), paths.end());
    return paths;
  }

  testing::TempTree tmp_;
  fs::path root_;
  std::unique_ptr<LocalUnderStore> store_;
};

TEST_F(LocalListPagingTest, PagesReturnEveryEntryOnceInPathOrder) {
  const std::string dir = (root_ / "d").string();
  for (const bool recursive : {false, true}) {
    const auto expected = Expected(root_ / "d", recursive);
    ASSERT_GT(expected.size(), 10U);
    for (const std::size_t limit : {1, 2, 3, 5, 1000}) {
      EXPECT_EQ(PathsOf(WalkPages(*store_, dir, recursive, limit)), expected)
          << (recursive ? "recursive" : "directory") << " pages of " << limit;
    }
    auto whole = store_->List(dir, recursive);
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(PathsOf(*whole), expected);
  }
}

TEST_F(LocalListPagingTest, StartAfterMayFallAnywhere) {
  const std::string d = (root_ / "d").string();
  // Inside a subtree: the walk resumes in it, then goes on after it.
  auto inside = store_->ListAfter(d, true, d + "/sub/y-1", 2);
  ASSERT_TRUE(inside.ok()) << inside.status().ToString();
  EXPECT_EQ(PathsOf(inside->entries), (std::vector<std::string>{d + "/sub/y.z", d + "/sub/y/z"}));
  EXPECT_TRUE(inside->more);
  // A path that is not an entry: "sub/" sorts after "sub.txt" and before "sub/x".
  auto between = store_->ListAfter(d, true, d + "/sub.zzz", 1);
  ASSERT_TRUE(between.ok());
  EXPECT_EQ(PathsOf(between->entries), std::vector<std::string>{d + "/sub/x"});
  // Directory listings show the directory "sub" before "sub!" and "sub-1".
  auto flat = store_->ListAfter(d, false, d + "/q.r.s", 2);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(PathsOf(flat->entries), (std::vector<std::string>{d + "/sub", d + "/sub!"}));
  EXPECT_TRUE(flat->entries[0].is_directory);
  // Before the directory: from its start; past it: nothing, and no more.
  auto before = store_->ListAfter(d, false, root_.string() + "/c", 1);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(PathsOf(before->entries), std::vector<std::string>{d + "/a"});
  auto past = store_->ListAfter(d, true, root_.string() + "/e", 10);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->entries.empty());
  EXPECT_FALSE(past->more);
  EXPECT_EQ(store_->ListAfter(d, false, "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListAfter(d + "/a", false, "", 5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListAfter(d + "/nope", true, "", 5).status().code(), StatusCode::kNotFound);
}

TEST_F(LocalListPagingTest, DirectoriesWiderThanOnePassOfNames) {
  // Hundreds of empty subdirectories around a few files: a recursive page finds its files
  // only by reading the directory past the first batch of names.
  const fs::path wide = root_ / "wide";
  for (int i = 0; i < 700; ++i) fs::create_directories(wide / ("e" + std::to_string(1000 + i)));
  for (const char* file : {"a", "e1350.bin", "e1699/x", "zz"}) Write(wide / file);
  for (const bool recursive : {false, true}) {
    const auto expected = Expected(wide, recursive);
    for (const std::size_t limit : {1, 3, 10000}) {
      EXPECT_EQ(PathsOf(WalkPages(*store_, wide.string(), recursive, limit)), expected)
          << (recursive ? "recursive" : "directory") << " pages of " << limit;
    }
  }
}

}  // namespace
}  // namespace epochcache
