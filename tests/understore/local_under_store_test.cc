#include "understore/local_under_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "local_fixture.h"

namespace epochcache {
namespace {
namespace fs = std::filesystem;

class LocalUnderStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = tmp_.path();
    root_ = base_ / "root";
    fs::create_directories(root_ / "train" / "sub");
    Write(root_ / "train" / "a.bin", "0123456789");
    Write(root_ / "train" / "sub" / "b.bin", "hello");
    Write(base_ / "secret.txt", "do not serve");
    store_ = testing::OpenLocalStore("file://" + root_.string());
    ASSERT_NE(store_, nullptr);
  }

  static void Write(const fs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary) << data;
  }

  std::string Read(const std::string& path, std::uint64_t offset, std::size_t n) {
    std::vector<std::byte> buf(n);
    auto r = store_->ReadRange(path, "", offset, buf);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    return {reinterpret_cast<const char*>(buf.data()), *r};  // NOLINT(*-reinterpret-cast)
  }

  testing::TempTree tmp_;
  fs::path base_, root_;
  std::unique_ptr<LocalUnderStore> store_;
};

TEST_F(LocalUnderStoreTest, StatsFilesAndDirectories) {
  auto file = store_->Stat((root_ / "train" / "a.bin").string());
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->is_directory);
  EXPECT_EQ(file->size, 10U);
  EXPECT_FALSE(file->version.empty());
  auto uri = store_->Stat("file://" + (root_ / "train").string() + "/");
  ASSERT_TRUE(uri.ok());
  EXPECT_TRUE(uri->is_directory);
  EXPECT_EQ(uri->path, (root_ / "train").string());
  EXPECT_EQ(store_->Stat((root_ / "nope").string()).status().code(), StatusCode::kNotFound);
}

TEST_F(LocalUnderStoreTest, ListsSortedAndRecursive) {
  auto flat = store_->List((root_ / "train").string(), false);
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(flat->size(), 2U);
  EXPECT_EQ((*flat)[0].path, (root_ / "train" / "a.bin").string());
  EXPECT_TRUE((*flat)[1].is_directory);
  auto deep = store_->List(root_.string(), true);
  ASSERT_TRUE(deep.ok());
  ASSERT_EQ(deep->size(), 2U);
  EXPECT_EQ((*deep)[1].path, (root_ / "train" / "sub" / "b.bin").string());
  EXPECT_EQ(store_->List((root_ / "train" / "a.bin").string(), false).status().code(),
            StatusCode::kNotFound);
}

TEST_F(LocalUnderStoreTest, ReadsRangesClippedAtEnd) {
  const std::string a = (root_ / "train" / "a.bin").string();
  EXPECT_EQ(Read(a, 2, 3), "234");
  EXPECT_EQ(Read(a, 8, 100), "89");
  EXPECT_EQ(Read(a, 50, 4), "");
}

TEST_F(LocalUnderStoreTest, RefusesPathsOutsideRoot) {
  const std::string escape = (root_ / "train" / ".." / ".." / "secret.txt").string();
  EXPECT_EQ(store_->Stat(escape).status().code(), StatusCode::kPermissionDenied);
  std::vector<std::byte> buf(4);
  EXPECT_EQ(store_->ReadRange(escape, "", 0, buf).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Stat("/etc/passwd").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Stat("relative/path").status().code(), StatusCode::kPermissionDenied);
  // A symlink inside the root that points outside it is refused too, and not listed.
  fs::create_symlink(base_ / "secret.txt", root_ / "train" / "link.txt");
  EXPECT_EQ(store_->Stat((root_ / "train" / "link.txt").string()).status().code(),
            StatusCode::kPermissionDenied);
  auto flat = store_->List((root_ / "train").string(), false);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->size(), 2U);
}

TEST_F(LocalUnderStoreTest, ChangedFileIsNotReadUnderOldVersion) {
  const fs::path a = root_ / "train" / "a.bin";
  auto before = store_->Stat(a.string());
  ASSERT_TRUE(before.ok());
  Write(a, "a different, longer content");
  std::vector<std::byte> buf(4);
  EXPECT_EQ(store_->ReadRange(a.string(), before->version, 0, buf).status().code(),
            StatusCode::kChanged);
  auto after = store_->Stat(a.string());
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->version, before->version);
  EXPECT_TRUE(store_->ReadRange(a.string(), after->version, 0, buf).ok());
}

TEST(LocalUnderStoreOpenTest, RejectsBadRoots) {
  EXPECT_EQ(LocalUnderStore::Open("relative").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalUnderStore::Open("/no/such/dir/anywhere").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(OpenUnderStore("gopher://x").ok());
}

}  // namespace
}  // namespace epochcache
