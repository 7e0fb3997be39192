// The local store's guards against a file written while it is read, driven through its seams:
// the settle wait sleeps on a ManualClock (the test decides when it ends, and changes the file
// meanwhile), and reads go through an Env that can hold a read midway. No test waits out real
// time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "local_fixture.h"
#include "support/eventually.h"
#include "support/fault_env.h"
#include "support/manual_clock.h"
#include "understore/local_under_store.h"

namespace epochcache {
namespace {
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::EventuallyTrue;
using testing::ManualClock;
using testing_support::FaultEnv;
using testing_support::FaultOp;

// An Env whose next read, once armed, stops before reading until the test lets it go.
class PausingEnv final : public FaultEnv {
 public:
  void ArmPause() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  void AwaitPaused() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return paused_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  Result<std::size_t> ReadAt(int fd, std::span<std::byte> out, std::uint64_t offset) override {
    {
      std::unique_lock lock(mu_);
      if (armed_) {
        armed_ = false;
        paused_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
      }
    }
    return FaultEnv::ReadAt(fd, out, offset);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool paused_ = false;
  bool released_ = false;
};

class LocalSettleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    file_ = root_ / "a.bin";
    Write("0123456789");
  }

  void Open(std::chrono::nanoseconds settle) {
    store_ = testing::OpenLocalStore(root_.string(), {&env_, &clock_, settle});
    ASSERT_NE(store_, nullptr);
  }

  void Write(const std::string& data) const {
    std::ofstream(file_, std::ios::binary | std::ios::trunc) << data;
  }

  // Overwrites the file in place: same inode, same size, so only mtime and ctime tell.
  void RewriteInPlace(char fill) const {
    const int fd = ::open(file_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::string data(10, fill);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), 10);
    ::close(fd);
  }

  // Starts a ten-byte read of the file on another thread.
  std::future<Result<std::string>> ReadAsync() {
    return std::async(std::launch::async, [this]() -> Result<std::string> {
      std::vector<std::byte> buf(10);
      EC_ASSIGN_OR_RETURN(const std::size_t n, store_->ReadRange(file_.string(), "", 0, buf));
      return std::string(reinterpret_cast<const char*>(buf.data()), n);
    });
  }

  testing::TempTree tmp_;
  fs::path root_, file_;
  PausingEnv env_;
  ManualClock clock_;
  std::unique_ptr<LocalUnderStore> store_;
};

TEST_F(LocalSettleTest, AYoungFileIsReadOnlyAfterTheSettleWait) {
  Open(std::chrono::hours(1));  // every file the test writes is younger than this
  auto read = ReadAsync();
  const auto wait = clock_.AwaitSleeps(1);
  EXPECT_GT(wait, std::chrono::minutes(59));
  EXPECT_LE(wait, std::chrono::hours(1));
  EXPECT_EQ(read.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the read finished before its settle wait ended";
  clock_.Advance(wait);
  auto data = read.get();
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "0123456789");
}

TEST_F(LocalSettleTest, AWriteDuringTheSettleWaitIsChanged) {
  Open(std::chrono::hours(1));
  auto read = ReadAsync();
  const auto wait = clock_.AwaitSleeps(1);
  RewriteInPlace('x');  // the writer was still copying
  clock_.Advance(wait);
  auto data = read.get();
  EXPECT_EQ(data.status().code(), StatusCode::kChanged) << data.status().ToString();
  EXPECT_NE(data.status().message().find("is being written"), std::string::npos);
}

TEST_F(LocalSettleTest, AFileOlderThanTheSettleTimeIsReadWithoutWaiting) {
  constexpr auto kSettle = milliseconds(1);
  Open(kSettle);
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  const auto ctime =
      std::chrono::seconds(st.st_ctim.tv_sec) + std::chrono::nanoseconds(st.st_ctim.tv_nsec);
  // Real time has to pass for a file to grow old: wait for the kernel's clock, not a guess.
  ASSERT_TRUE(EventuallyTrue([&] {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) >
           ctime + kSettle;
  }));
  auto data = ReadAsync().get();  // a settle wait would block here: the clock never moves
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "0123456789");
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(LocalSettleTest, AWriteDuringTheReadItselfIsChangedNeverMixed) {
  Open(std::chrono::nanoseconds(0));
  env_.ArmPause();
  auto read = ReadAsync();
  env_.AwaitPaused();  // the version was checked; the bytes are not read yet
  RewriteInPlace('x');
  env_.Release();
  auto data = read.get();
  EXPECT_EQ(data.status().code(), StatusCode::kChanged) << data.status().ToString();
  EXPECT_NE(data.status().message().find("changed while being read"), std::string::npos);
}

TEST_F(LocalSettleTest, AReadHeldMidwayWithoutAWriteReturnsTheFile) {
  Open(std::chrono::nanoseconds(0));
  env_.ArmPause();
  auto read = ReadAsync();
  env_.AwaitPaused();
  env_.Release();
  auto data = read.get();
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "0123456789");
}

TEST_F(LocalSettleTest, AFailedReadNamesTheFile) {
  Open(std::chrono::nanoseconds(0));
  env_.Fail(FaultOp::kRead, EIO);
  auto data = ReadAsync().get();
  EXPECT_EQ(data.status().code(), StatusCode::kIoError) << data.status().ToString();
  EXPECT_NE(data.status().message().find(file_.string()), std::string::npos)
      << data.status().ToString();
  EXPECT_EQ(env_.injected(FaultOp::kRead), 1);
}

}  // namespace
}  // namespace epochcache
