// The local store's containment and versions under attack: rewrites that keep size and mtime,
// a file rewritten in place while it is read, and a symlink swapped between an inside and an
// outside target while it is read. Loops are bounded in count and in time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "local_fixture.h"
#include "support/eventually.h"
#include "understore/local_under_store.h"

namespace epochcache {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class LocalSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = tmp_.path();
    root_ = base_ / "root";
    fs::create_directories(root_ / "dir");
    fs::create_directories(base_ / "outside");
    store_ = testing::OpenLocalStore(root_.string());
    ASSERT_NE(store_, nullptr);
  }

  static void Write(const fs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  }

  testing::TempTree tmp_;
  fs::path base_, root_;
  std::unique_ptr<LocalUnderStore> store_;
};

// Overwrites `path` in place (same inode, same size) with `fill`, in chunks as a program
// writing a file does, then puts `mtime` back.
void RewriteInPlace(const fs::path& path, char fill, std::size_t size,
                    const struct timespec& mtime) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::string chunk(std::size_t{64} * 1024, fill);
  for (std::size_t at = 0; at < size; at += chunk.size()) {
    const std::size_t n = std::min(chunk.size(), size - at);
    ASSERT_EQ(::pwrite(fd, chunk.data(), n, static_cast<off_t>(at)), static_cast<ssize_t>(n));
  }
  const struct timespec times[2] = {{0, UTIME_OMIT}, mtime};
  ASSERT_EQ(::futimens(fd, times), 0);
  ::close(fd);
}

TEST_F(LocalSecurityTest, SameSizeSameMtimeRewriteIsANewVersion) {
  const fs::path f = root_ / "dir" / "a.bin";
  Write(f, "0123456789");
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  auto before = store_->Stat(f.string());
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  // The rewrite must get another ctime, also where file times come from a coarse clock: wait
  // until that clock has moved past the first write's.
  ASSERT_TRUE(testing::EventuallyTrue([&] {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    return now.tv_sec > st.st_ctim.tv_sec ||
           (now.tv_sec == st.st_ctim.tv_sec && now.tv_nsec > st.st_ctim.tv_nsec);
  }));
  RewriteInPlace(f, 'x', 10, st.st_mtim);  // what `cp -p` or `rsync -t` leave behind
  struct stat st2 {};
  ASSERT_EQ(::stat(f.c_str(), &st2), 0);
  ASSERT_EQ(st2.st_size, st.st_size);
  ASSERT_EQ(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
  ASSERT_EQ(st2.st_mtim.tv_nsec, st.st_mtim.tv_nsec);

  auto after = store_->Stat(f.string());
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->version, before->version);
  EXPECT_EQ(after->mtime_ns, before->mtime_ns);
  std::vector<std::byte> buf(10);
  EXPECT_EQ(store_->ReadRange(f.string(), before->version, 0, buf).status().code(),
            StatusCode::kChanged);
  auto n = store_->ReadRange(f.string(), after->version, 0, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::to_integer<char>(buf[0]), 'x');
}

TEST_F(LocalSecurityTest, InPlaceRewritesDuringReadsAreNeverReturnedMixed) {
  constexpr std::size_t kSize = std::size_t{2} * 1024 * 1024;
  constexpr int kGenerations = 24;
  const fs::path f = root_ / "dir" / "big.bin";
  Write(f, std::string(kSize, 'A'));
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  const auto cap = Clock::now() + std::chrono::seconds(30);

  // Hand-off: after each generation the writer waits until two more reads have ended, so the
  // second of them started on a file no longer being written (reads can succeed), while the
  // next generation races the reads that follow.
  std::mutex mu;
  std::condition_variable read_ended;
  int reads = 0;  // guarded by mu
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int g = 1; g <= kGenerations && Clock::now() < cap; ++g) {
      RewriteInPlace(f, static_cast<char>('A' + g), kSize, st.st_mtim);
      std::unique_lock lock(mu);
      const int until = reads + 2;
      read_ended.wait_until(lock, cap, [&] { return reads >= until; });
    }
    done = true;
  });
  int ok = 0;
  int changed = 0;
  int mixed = 0;
  std::vector<std::byte> buf(kSize);
  const auto ended = [&] {
    std::lock_guard lock(mu);
    ++reads;
    read_ended.notify_all();
  };
  while (!done && Clock::now() < cap) {
    auto status = store_->Stat(f.string());
    ASSERT_TRUE(status.ok()) << status.status().ToString();
    auto n = store_->ReadRange(f.string(), status->version, 0, buf);
    ended();
    if (!n.ok()) {
      ASSERT_EQ(n.status().code(), StatusCode::kChanged) << n.status().ToString();
      ++changed;
      continue;
    }
    ASSERT_EQ(*n, kSize);
    ++ok;
    if (!std::all_of(buf.begin(), buf.end(), [&](std::byte b) { return b == buf[0]; })) ++mixed;
  }
  writer.join();
  RecordProperty("successful_reads", ok);
  RecordProperty("changed_reads", changed);
  EXPECT_EQ(mixed, 0) << ok << " reads succeeded, " << changed << " reported a change";
  EXPECT_GT(ok, 0) << "no read succeeded: the test proved nothing";
}

TEST_F(LocalSecurityTest, SwappedSymlinkNeverYieldsOutsideContent) {
  constexpr std::size_t kSize = std::size_t{256} * 1024;
  Write(root_ / "dir" / "inside.txt", std::string(kSize, 'I'));
  Write(base_ / "outside" / "secret.txt", std::string(kSize, 'S'));
  const fs::path link = root_ / "dir" / "link";
  fs::create_symlink("inside.txt", link);
  const auto cap = Clock::now() + std::chrono::seconds(20);

  std::atomic<bool> done{false};
  std::thread swapper([&] {
    const fs::path tmp = root_ / "dir" / ".link.tmp";
    for (int i = 0; i < 4000 && Clock::now() < cap; ++i) {
      std::error_code ec;
      fs::remove(tmp, ec);
      fs::create_symlink(
          i % 2 == 0 ? fs::path(base_ / "outside" / "secret.txt") : fs::path("inside.txt"), tmp);
      fs::rename(tmp, link);  // atomic: the link always exists, pointing one way or the other
    }
    done = true;
  });
  int inside = 0;
  int refused = 0;
  int leaked = 0;
  std::vector<std::byte> buf(kSize);
  while (!done && Clock::now() < cap) {
    auto n = store_->ReadRange(link.string(), "", 0, buf);
    if (!n.ok()) {
      EXPECT_TRUE(n.status().code() == StatusCode::kPermissionDenied ||
                  n.status().code() == StatusCode::kChanged)
          << n.status().ToString();
      ++refused;
      continue;
    }
    if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n),
                    [](std::byte b) { return std::to_integer<char>(b) == 'S'; })) {
      ++leaked;
    } else {
      ++inside;
    }
    auto st = store_->Stat(link.string());
    if (st.ok()) {
      EXPECT_EQ(st->size, kSize);
    }
  }
  swapper.join();
  RecordProperty("inside_reads", inside);
  RecordProperty("refused_reads", refused);
  EXPECT_EQ(leaked, 0) << inside << " inside reads, " << refused << " refused";
  EXPECT_GT(inside + refused, 0);
}

TEST_F(LocalSecurityTest, SymlinksInsideWorkAndListingsShowNothingOutside) {
  Write(root_ / "dir" / "a.bin", "abc");
  Write(base_ / "outside" / "secret.txt", "do not serve");
  fs::create_symlink("a.bin", root_ / "dir" / "alias.bin");                  // stays inside
  fs::create_symlink("../dir", root_ / "dir" / "self");                      // inside, a loop
  fs::create_symlink(base_ / "outside", root_ / "outlink");                  // absolute, out
  fs::create_symlink("../outside/secret.txt", root_ / "escape.txt");         // relative, out
  fs::create_symlink("dir/../../outside/secret.txt", root_ / "sneaky.txt");  // out via ".."

  auto alias = store_->Stat((root_ / "dir" / "alias.bin").string());
  ASSERT_TRUE(alias.ok()) << alias.status().ToString();
  EXPECT_EQ(alias->size, 3U);
  for (const auto& p : {root_ / "outlink", root_ / "outlink" / "secret.txt", root_ / "escape.txt",
                        root_ / "sneaky.txt"}) {
    EXPECT_EQ(store_->Stat(p.string()).status().code(), StatusCode::kPermissionDenied) << p;
    std::vector<std::byte> buf(4);
    EXPECT_EQ(store_->ReadRange(p.string(), "", 0, buf).status().code(),
              StatusCode::kPermissionDenied)
        << p;
  }
  EXPECT_EQ(store_->List((root_ / "outlink").string(), true).status().code(),
            StatusCode::kPermissionDenied);
  for (const bool recursive : {false, true}) {
    auto entries = store_->List(root_.string(), recursive);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    for (const auto& e : *entries) {
      EXPECT_EQ(e.path.find("outlink"), std::string::npos) << e.path;
      EXPECT_EQ(e.path.find("escape"), std::string::npos) << e.path;
      EXPECT_EQ(e.path.find("sneaky"), std::string::npos) << e.path;
      EXPECT_NE(e.size, 12U) << e.path;  // the secret's size
    }
  }
  auto deep = store_->List(root_.string(), true);
  ASSERT_TRUE(deep.ok());
  std::vector<std::string> paths;
  for (const auto& e : *deep) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{(root_ / "dir" / "a.bin").string(),
                                             (root_ / "dir" / "alias.bin").string()}));
}

// Makes openat2 fail with ENOSYS in this process, as on a kernel older than 5.6.
bool DisableOpenat2() {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<std::uint16_t>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Runs in a forked child: exits 0 when the O_NOFOLLOW walk serves what is inside and refuses
// every symlink, since without openat2 a symlink's target cannot be confined.
[[noreturn]] void CheckWalkFallback(LocalUnderStore& store, const fs::path& root) {
  int failures = 0;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) {
      std::cerr << "fallback: " << what << "\n";
      ++failures;
    }
  };
  if (!DisableOpenat2()) std::_Exit(2);
  errno = 0;
  expect(::syscall(SYS_openat2, AT_FDCWD, "/", nullptr, 0) < 0 && errno == ENOSYS,
         "openat2 still works");
  std::vector<std::byte> buf(3);
  auto n = store.ReadRange((root / "dir" / "a.bin").string(), "", 0, buf);
  expect(n.ok() && *n == 3 && std::to_integer<char>(buf[0]) == 'a', "inside file not read");
  expect(store.Stat((root / "dir").string()).ok(), "inside dir not stat'ed");
  expect(store.Stat(root.string()).ok(), "root not stat'ed");
  for (const auto& p :
       {root / "dir" / "alias.bin", root / "outlink" / "secret.txt", root / "escape.txt"}) {
    expect(store.Stat(p.string()).status().code() != StatusCode::kOk, p.string() + " stat'ed");
    expect(!store.ReadRange(p.string(), "", 0, buf).ok(), p.string() + " read");
  }
  auto deep = store.List(root.string(), true);
  expect(deep.ok() && deep->size() == 1 && deep->front().path == (root / "dir" / "a.bin").string(),
         "recursive listing");
  std::_Exit(failures == 0 ? 0 : 1);
}

TEST_F(LocalSecurityTest, WithoutOpenat2TheWalkRefusesEverySymlink) {
  Write(root_ / "dir" / "a.bin", "abc");
  Write(base_ / "outside" / "secret.txt", "do not serve");
  fs::create_symlink("a.bin", root_ / "dir" / "alias.bin");
  fs::create_symlink(base_ / "outside", root_ / "outlink");
  fs::create_symlink("../outside/secret.txt", root_ / "escape.txt");
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(CheckWalkFallback(*store_, root_), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace epochcache
