// kill -9 while pages are being written: after a restart every page whose Put returned OK is
// served, with the right bytes, and nothing partial is.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "epochcache/page_store.h"
#include "test_util.h"

namespace epochcache::pagestore {
namespace {

constexpr std::uint64_t kPageSize = std::uint64_t{512} * 1024;

PageStoreOptions Options(const std::string& dir) {
  PageStoreOptions options;
  options.dirs = {{dir, std::uint64_t{1} << 30}};
  options.page_size = kPageSize;
  return options;
}

TEST(CrashRecoveryTest, KillNineWhileWritingLosesNoCommittedPage) {
  TempDir tmp;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child writes pages until it is killed, reporting each one whose Put returned OK.
    ::close(pipe_fds[0]);
    auto store = PageStore::Open(Options(tmp.path()));
    if (!store.ok()) ::_exit(2);
    for (std::uint64_t i = 0;; ++i) {
      if ((*store)->Put(Page("f", i), PageBytes(kPageSize, i)).ok()) {
        if (::write(pipe_fds[1], &i, sizeof(i)) != sizeof(i)) ::_exit(3);
      }
    }
  }
  ::close(pipe_fds[1]);
  // Let it commit some pages, then kill it mid-write.
  std::vector<std::uint64_t> done;
  std::uint64_t index = 0;
  while (done.size() < 40 && ::read(pipe_fds[0], &index, sizeof(index)) == sizeof(index)) {
    done.push_back(index);
  }
  ::kill(child, SIGKILL);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  while (::read(pipe_fds[0], &index, sizeof(index)) == sizeof(index)) done.push_back(index);
  ::close(pipe_fds[0]);

  auto store = PageStore::Open(Options(tmp.path()));
  ASSERT_TRUE(store.ok());
  const PageStoreStats s = (*store)->Stats();
  EXPECT_GE(s.recovered_pages, done.size());
  for (std::uint64_t i : done) {
    auto h = (*store)->Get(Page("f", i), 0, kPageSize);
    ASSERT_TRUE(h.ok()) << "committed page " << i << ": " << h.status().ToString();
    EXPECT_EQ(ReadHandle(*h), PageBytes(kPageSize, i));
  }
  // Whatever else survived is whole, and no temp file is left.
  for (std::uint64_t i = 0; i < s.recovered_pages + 10; ++i) {
    auto h = (*store)->Get(Page("f", i), 0, kPageSize);
    if (h.ok()) {
      EXPECT_EQ(ReadHandle(*h), PageBytes(kPageSize, i)) << i;
    }
  }
  EXPECT_EQ((*store)->Stats().checksum_failures, 0U);
  EXPECT_EQ(PageFiles(tmp.path()).size(), s.recovered_pages);
}

}  // namespace
}  // namespace epochcache::pagestore
