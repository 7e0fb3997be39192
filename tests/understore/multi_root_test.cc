#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "understore/local_under_store.h"
#include "understore/memory_under_store.h"
#include "understore/multi_root_under_store.h"

namespace epochcache {
namespace {
namespace fs = std::filesystem;

std::string ReadAll(UnderStore& store, const std::string& path) {
  auto status = store.Stat(path);
  if (!status.ok()) return "<" + status.status().ToString() + ">";
  std::vector<std::byte> buf(status->size);
  auto n = store.ReadRange(path, status->version, 0, buf);
  if (!n.ok()) return "<" + n.status().ToString() + ">";
  return {reinterpret_cast<const char*>(buf.data()), *n};
}

class MultiRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ec-multi-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = fs::canonical(tmpl);
    fs::create_directories(base_ / "data" / "sub");
    std::ofstream(base_ / "data" / "sub" / "local.bin") << "from disk";
    std::ofstream(base_ / "outside.bin") << "not served";

    auto train = std::make_unique<MemoryUnderStore>();
    train->Put("/a/train/x.bin", "train x");
    train->Put("/a/train2/y.bin", "train2 y");  // lies in the same twin, outside its root
    train_ = train.get();
    auto other = std::make_unique<MemoryUnderStore>();
    other->Put("/b/z.bin", "bucket b");
    other->Put("/b/dir/1", "one");
    other->Put("/b/dir/2", "two");
    other->Put("/b/dir/3", "three");
    auto local = LocalUnderStore::Open("file://" + (base_ / "data").string());
    ASSERT_TRUE(local.ok()) << local.status().ToString();

    std::vector<UnderRoot> roots;
    roots.push_back({"/a/train", std::move(train)});
    roots.push_back({"/b/", std::move(other)});
    roots.push_back({"file://" + (base_ / "data").string(), std::move(local).value()});
    auto store = MultiRootUnderStore::Create(std::move(roots));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path base_;
  MemoryUnderStore* train_ = nullptr;
  std::unique_ptr<MultiRootUnderStore> store_;
};

TEST_F(MultiRootTest, ReadsFromEveryRoot) {
  EXPECT_EQ(ReadAll(*store_, "/a/train/x.bin"), "train x");
  EXPECT_EQ(ReadAll(*store_, "/b/z.bin"), "bucket b");
  EXPECT_EQ(ReadAll(*store_, (base_ / "data" / "sub" / "local.bin").string()), "from disk");
  EXPECT_EQ(ReadAll(*store_, "file://" + (base_ / "data" / "sub" / "local.bin").string()),
            "from disk");
  EXPECT_EQ(train_->read_calls(), 1U);
}

TEST_F(MultiRootTest, RefusesPathsOutsideEveryRootNamingTheRoots) {
  for (const std::string& path : std::vector<std::string>{
           "/c/x.bin", "/a/train2/y.bin", "/a/trainx", "/a", (base_ / "outside.bin").string()}) {
    auto status = store_->Stat(path);
    ASSERT_FALSE(status.ok()) << path;
    EXPECT_EQ(status.status().code(), StatusCode::kPermissionDenied) << path;
    EXPECT_NE(status.status().message().find("/a/train, "), std::string::npos)
        << status.status().ToString();
    EXPECT_NE(status.status().message().find("/b/"), std::string::npos);
    std::vector<std::byte> buf(4);
    EXPECT_EQ(store_->ReadRange(path, "", 0, buf).status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(store_->ListAfter(path, true, "", 10).status().code(), StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(train_->read_calls(), 0U);
}

TEST_F(MultiRootTest, ChecksThePathSpellingBeforeRouting) {
  // "/b/../a/train2/y.bin" would reach another tree if a store collapsed the dots.
  auto status = store_->Stat("/b/../a/train2/y.bin");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(status.status().message().find(".."), std::string::npos) << status.status().ToString();
}

TEST_F(MultiRootTest, ListsPageByPageWithinARoot) {
  std::vector<std::string> paths;
  std::string after;
  for (int i = 0; i < 10; ++i) {
    auto page = store_->ListAfter("/b/dir", false, after, 2);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& entry : page->entries) paths.push_back(entry.path);
    if (!page->more) break;
    after = page->entries.back().path;
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/b/dir/1", "/b/dir/2", "/b/dir/3"}));
  auto all = store_->List("/a/train", true);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ(all->front().path, "/a/train/x.bin");
}

TEST_F(MultiRootTest, ReportsRootsAndScheme) {
  EXPECT_EQ(store_->Scheme(), "multi");
  const auto roots = store_->roots();
  ASSERT_EQ(roots.size(), 3U);
  EXPECT_EQ(roots[1], "/b/");
}

std::vector<UnderRoot> TwinRoots(const std::vector<std::string>& uris) {
  std::vector<UnderRoot> roots;
  for (const auto& uri : uris) roots.push_back({uri, std::make_unique<MemoryUnderStore>()});
  return roots;
}

TEST(MultiRootCreateTest, RefusesRepeatedAndNestedRoots) {
  const std::vector<std::vector<std::string>> bad = {
      {"s3://a/train", "s3://a/train/"},
      {"s3://a/train", "s3a://a/train"},
      {"s3://a", "s3://a/train"},
      {"s3://a/train/sub", "s3://b", "s3://a/train"},
      {"/data", "file:///data/x"},
      {"/", "/data"},
      {"https://user:hunter2@h/p", "https://h/p/q"},
  };
  for (const auto& uris : bad) {
    auto store = MultiRootUnderStore::Create(TwinRoots(uris));
    ASSERT_FALSE(store.ok()) << uris.front() << " " << uris.back();
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store.status().message().find("hunter2"), std::string::npos)
        << store.status().ToString();
  }
  EXPECT_FALSE(MultiRootUnderStore::Create({}).ok());
}

TEST(MultiRootCreateTest, SegmentBoundariesSeparateSiblings) {
  auto store = MultiRootUnderStore::Create(TwinRoots({"/a/train", "/a/train2", "/a/tra"}));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
}

TEST(MultiRootCreateTest, MessagesDropUserInfo) {
  auto store = MultiRootUnderStore::Create(TwinRoots({"https://user:hunter2@h/p"}));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto status = (*store)->Stat("https://h/q/x");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(status.status().message().find("hunter2"), std::string::npos);
  EXPECT_NE(status.status().message().find("https://***@h/p"), std::string::npos)
      << status.status().ToString();
  EXPECT_EQ((*store)->roots(), std::vector<std::string>{"https://***@h/p"});
}

TEST(RoutingKeyTest, SpellingsOfOneRootMeet) {
  EXPECT_EQ(RoutingKey("file:///data/"), "/data");
  EXPECT_EQ(RoutingKey("/data"), "/data");
  EXPECT_EQ(RoutingKey("s3a://b/k/"), "s3://b/k");
  EXPECT_EQ(RoutingKey("/"), "/");
  EXPECT_EQ(RoutingKey("file:///"), "/");
  EXPECT_EQ(RoutingKey("http://u:p@h/x"), "http://h/x");
  EXPECT_TRUE(RootContains("/", "/x"));
  EXPECT_TRUE(RootContains("s3://a/train", "s3://a/train"));
  EXPECT_TRUE(RootContains("s3://a/train", "s3://a/train/x"));
  EXPECT_FALSE(RootContains("s3://a/train", "s3://a/train2"));
  EXPECT_FALSE(RootContains("s3://a", "s3://ab/x"));
}

TEST(MultiRootOpenTest, OpensEachRootWithItsOptionsAndChecksFirst) {
  std::string tmpl = (fs::temp_directory_path() / "ec-multi-open-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path base = fs::canonical(tmpl);
  fs::create_directories(base / "one");
  fs::create_directories(base / "two");
  std::ofstream(base / "two" / "f") << "2";
  auto store = MultiRootUnderStore::Open(
      {{(base / "one").string(), {}}, {"file://" + (base / "two").string(), {}}});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(ReadAll(**store, (base / "two" / "f").string()), "2");
  EXPECT_EQ((*store)->Scheme(), "multi");

  auto missing = MultiRootUnderStore::Open({{(base / "nope").string(), {}}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  auto nested = MultiRootUnderStore::Open({{(base / "one").string(), {}}, {base.string(), {}}});
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("overlap"), std::string::npos);
  fs::remove_all(base);
}

}  // namespace
}  // namespace epochcache
