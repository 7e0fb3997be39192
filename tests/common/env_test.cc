// Env::Default against a real temp dir, ErrnoStatus's codes, and MakePrivateDirs.
#include "common/env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "common/private_dir.h"
#include "support/umask_zero.h"

namespace epochcache {
namespace {

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/env-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  [[nodiscard]] std::string Sub(const std::string& name) const { return dir_ + "/" + name; }

  Env* env_ = Env::Default();
  std::string dir_;
};

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(ErrnoStatusTest, CodesSayWhatTheCallerCanDo) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(ENOTDIR, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EPERM, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EROFS, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x").code(), StatusCode::kRejected);
  EXPECT_EQ(ErrnoStatus(EDQUOT, "x").code(), StatusCode::kRejected);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), StatusCode::kIoError);
  const Status s = ErrnoStatus(ENOSPC, "writing /c/p.tmp");
  EXPECT_EQ(s.message(), "writing /c/p.tmp: No space left on device");
}

TEST_F(EnvTest, WriteThenReadBackInParts) {
  Result<int> fd = env_->Open(Sub("f"), OpenMode::kCreateNew, 0600);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  const std::array<std::span<const std::byte>, 3> parts = {Bytes("head"), Bytes(""),
                                                           Bytes("-and-body")};
  ASSERT_TRUE(env_->Write(*fd, parts).ok());
  ASSERT_TRUE(env_->Close(*fd).ok());

  Result<int> rd = env_->Open(Sub("f"), OpenMode::kRead);
  ASSERT_TRUE(rd.ok());
  const ScopedFd owned(*rd);
  std::array<std::byte, 64> buf{};
  Result<std::size_t> got = env_->ReadAt(owned.get(), buf, 4);
  ASSERT_TRUE(got.ok());
  // Short only because the file ends.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *got), "-and-body");
  Result<FileInfo> info = env_->Stat(owned.get());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 13U);
  EXPECT_TRUE(info->is_regular);
  EXPECT_FALSE(info->is_dir);
  EXPECT_GT(info->mtime_ns, 0);
}

TEST_F(EnvTest, WriteTakesMorePartsThanOneSystemCall) {
  std::vector<std::string> texts;
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    texts.push_back(std::string(static_cast<std::size_t>(i * 37 % 11), static_cast<char>('a' + i)));
    expected += texts.back();
  }
  std::vector<std::span<const std::byte>> parts;
  for (const std::string& t : texts) parts.push_back(Bytes(t));
  Result<int> fd = env_->Open(Sub("f"), OpenMode::kCreateNew, 0600);
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(env_->Write(*fd, parts).ok());
  ASSERT_TRUE(env_->Close(*fd).ok());
  std::ifstream in(Sub("f"));
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, expected);
}

TEST_F(EnvTest, CreateNewNeverReusesAFileAndGetsExactlyItsMode) {
  const testing_support::UmaskZero umask;
  std::ofstream(Sub("old")) << "old";
  ::chmod(Sub("old").c_str(), 0644);
  Result<int> again = env_->Open(Sub("old"), OpenMode::kCreateNew, 0600);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(Sub("old")), std::string::npos);

  Result<int> fd = env_->Open(Sub("new"), OpenMode::kCreateNew, 0600);
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(env_->Close(*fd).ok());
  EXPECT_EQ(ModeOf(Sub("new")), 0600U);
}

TEST_F(EnvTest, MissingFilesAreNotFound) {
  EXPECT_EQ(env_->Open(Sub("none"), OpenMode::kRead).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env_->Stat(Sub("none")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env_->Unlink(Sub("none")).code(), StatusCode::kNotFound);
  EXPECT_EQ(env_->Rename(Sub("none"), Sub("other")).code(), StatusCode::kNotFound);
  EXPECT_EQ(env_->ListDir(Sub("none")).status().code(), StatusCode::kNotFound);
  // A missing parent too: the write path creates it on NotFound.
  EXPECT_EQ(env_->Open(Sub("none/f"), OpenMode::kCreateNew, 0600).status().code(),
            StatusCode::kNotFound);
}

TEST_F(EnvTest, RenameReplacesAndUnlinkRemoves) {
  std::ofstream(Sub("a")) << "new";
  std::ofstream(Sub("b")) << "old!";
  ASSERT_TRUE(env_->Rename(Sub("a"), Sub("b")).ok());
  Result<FileInfo> info = env_->Stat(Sub("b"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 3U);
  EXPECT_FALSE(std::filesystem::exists(Sub("a")));
  ASSERT_TRUE(env_->Unlink(Sub("b")).ok());
  EXPECT_FALSE(std::filesystem::exists(Sub("b")));
}

TEST_F(EnvTest, DirectoriesAreCreatedListedAndOpened) {
  ASSERT_TRUE(env_->CreateDir(Sub("d"), 0700).ok());
  EXPECT_TRUE(env_->CreateDir(Sub("d"), 0700).ok());  // already there is fine
  std::ofstream(Sub("d/file")) << "x";
  ASSERT_TRUE(env_->CreateDir(Sub("d/sub"), 0700).ok());

  Result<std::vector<DirEntry>> entries = env_->ListDir(Sub("d"));
  ASSERT_TRUE(entries.ok());
  std::sort(entries->begin(), entries->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  ASSERT_EQ(entries->size(), 2U);
  EXPECT_EQ((*entries)[0].name, "file");
  EXPECT_FALSE((*entries)[0].is_dir);
  EXPECT_EQ((*entries)[1].name, "sub");
  EXPECT_TRUE((*entries)[1].is_dir);

  Result<int> dir = env_->Open(Sub("d"), OpenMode::kDirectory);
  ASSERT_TRUE(dir.ok());
  const ScopedFd owned(*dir);
  ASSERT_TRUE(env_->ChangeMode(owned.get(), 0750).ok());
  EXPECT_EQ(ModeOf(Sub("d")), 0750U);
  EXPECT_EQ(env_->Open(Sub("d/file"), OpenMode::kDirectory).status().code(),
            StatusCode::kNotFound);  // ENOTDIR
}

TEST_F(EnvTest, MakePrivateDirsCreatesTheWholePathPrivate) {
  const testing_support::UmaskZero umask;
  ASSERT_TRUE(MakePrivateDirs(env_, Sub("a/b/c")).ok());
  EXPECT_EQ(ModeOf(Sub("a")), 0700U);
  EXPECT_EQ(ModeOf(Sub("a/b")), 0700U);
  EXPECT_EQ(ModeOf(Sub("a/b/c")), 0700U);
  EXPECT_TRUE(MakePrivateDirs(env_, Sub("a/b/c")).ok());  // idempotent
}

TEST_F(EnvTest, MakePrivateDirsNarrowsOnlyTheLeaf) {
  std::filesystem::create_directories(Sub("shared/leaf"));
  ::chmod(Sub("shared").c_str(), 0755);
  ::chmod(Sub("shared/leaf").c_str(), 0775);
  ASSERT_TRUE(MakePrivateDirs(env_, Sub("shared/leaf")).ok());
  EXPECT_EQ(ModeOf(Sub("shared/leaf")), 0700U);
  EXPECT_EQ(ModeOf(Sub("shared")), 0755U);  // may be shared, like /var/cache
  // Never widens: read-only on purpose stays so.
  ::chmod(Sub("shared/leaf").c_str(), 0500);
  ASSERT_TRUE(MakePrivateDirs(env_, Sub("shared/leaf")).ok());
  EXPECT_EQ(ModeOf(Sub("shared/leaf")), 0500U);
  ::chmod(Sub("shared/leaf").c_str(), 0700);
}

TEST_F(EnvTest, MakePrivateDirsRefusesAFile) {
  std::ofstream(Sub("file")) << "x";
  const Status s = MakePrivateDirs(env_, Sub("file"));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find(Sub("file")), std::string::npos);
  EXPECT_EQ(MakePrivateDirs(env_, Sub("file/below")).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace epochcache
