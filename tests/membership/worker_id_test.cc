// The worker id file and the cache dir it creates are private to the worker's user, whatever
// the umask, and wider modes left by older versions are narrowed.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "epochcache/membership.h"
#include "support/umask_zero.h"

namespace epochcache {
namespace {

namespace fs = std::filesystem;

unsigned ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

using testing_support::UmaskZero;

TEST(WorkerIdTest, FileIs0600AndNewDirsAre0700EvenWithUmaskZero) {
  const fs::path root = fs::temp_directory_path() / fmt::format("ec-idmode-{}", ::getpid());
  fs::remove_all(root);
  const fs::path dir = root / "a" / "cache";
  {
    UmaskZero umask;
    auto id = LoadOrCreateWorkerId(dir.string());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }
  EXPECT_EQ(ModeOf(root), 0700U);
  EXPECT_EQ(ModeOf(root / "a"), 0700U);
  EXPECT_EQ(ModeOf(dir), 0700U);
  EXPECT_EQ(ModeOf(dir / "worker-id"), 0600U);
  EXPECT_FALSE(fs::exists(dir / "worker-id.tmp"));
  fs::remove_all(root);
}

TEST(WorkerIdTest, WiderModesFromBeforeAreNarrowed) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("ec-idwide-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "worker-id") << "w-0123456789abcdef\n";
  fs::permissions(dir, fs::perms::all);
  fs::permissions(dir / "worker-id", fs::perms::owner_read | fs::perms::owner_write |
                                         fs::perms::group_read | fs::perms::others_read);
  auto id = LoadOrCreateWorkerId(dir.string());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "w-0123456789abcdef");
  EXPECT_EQ(ModeOf(dir), 0700U);
  EXPECT_EQ(ModeOf(dir / "worker-id"), 0600U);
  fs::remove_all(dir);
}

TEST(WorkerIdTest, ACacheDirThatIsAFileIsAnError) {
  const fs::path file = fs::temp_directory_path() / fmt::format("ec-idfile-{}", ::getpid());
  std::ofstream(file) << "x";
  auto id = LoadOrCreateWorkerId(file.string());
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find(file.string()), std::string::npos);
  fs::remove(file);
}

}  // namespace
}  // namespace epochcache
