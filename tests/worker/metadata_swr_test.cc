// The worker's metadata: statuses learned from listings, stale-while-revalidate (one background
// refresh per path or listed directory, a hard limit past which a request asks itself), and
// immutable statuses that are never asked for again. Time is a ManualClock; the under store is
// the in-memory twin behind a wrapper that counts (and can hold) stats and listings.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/manual_clock.h"
#include "support/read_plan_bytes.h"
#include "temp_dir.h"
#include "understore/immutable_status.h"
#include "understore/memory_under_store.h"
#include "worker/read_service.h"

namespace epochcache::worker {
namespace {

using epochcache::testing::ManualClock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;
constexpr auto kTtl = seconds(10);
constexpr auto kMaxStale = seconds(60);

// Counts the metadata calls that reach the store, can hold them until released, and can
// answer stats of extra (Hugging Face style) paths the twin cannot hold.
class CountingStore final : public UnderStore {
 public:
  explicit CountingStore(MemoryUnderStore& inner) : inner_(inner) {}

  std::string_view Scheme() const override { return inner_.Scheme(); }
  Result<FileStatus> Stat(std::string_view path) override {
    ++stats;
    if (hold_stats_) WaitIfHeld();
    {
      std::lock_guard lock(mu_);
      for (const auto& extra : extras_) {
        if (extra.path == path) return extra;
      }
    }
    return inner_.Stat(path);
  }
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    ++lists;
    WaitIfHeld();
    return inner_.List(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override {
    ++lists;
    WaitIfHeld();
    return inner_.ListAfter(path, recursive, start_after, limit);
  }
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override {
    return inner_.ReadRange(path, version, offset, out);
  }

  void SetExtra(FileStatus status) {
    std::lock_guard lock(mu_);
    std::erase_if(extras_, [&](const FileStatus& s) { return s.path == status.path; });
    extras_.push_back(std::move(status));
  }
  // Holds listings, and stats too when `stats`.
  void HoldCalls(bool stats = false) {
    std::lock_guard lock(mu_);
    held_ = true;
    hold_stats_ = stats;
  }
  void ReleaseCalls() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Waits (bounded) until a listing is being held.
  bool AwaitHeldCall() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return waiting_ > 0; });
  }

  std::atomic<int> stats{0};
  std::atomic<int> lists{0};

 private:
  void WaitIfHeld() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    --waiting_;
  }

  MemoryUnderStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FileStatus> extras_;
  bool held_ = false;
  std::atomic<bool> hold_stats_{false};
  int waiting_ = 0;
};

class MetadataSwrTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(kMaxStale); }

  void Open(milliseconds max_stale) {
    service_.reset();
    PageStoreOptions options;
    options.dirs.push_back({cache_.str() + "/pages", 64 << 20});
    options.page_size = kPageSize;
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    ReadServiceOptions read_options;
    read_options.metadata_ttl = kTtl;
    read_options.metadata_max_stale = max_stale;
    read_options.clock = &clock_;
    service_ = std::make_unique<ReadService>(store_, *pages_, read_options);
  }

  std::string VersionOf(std::string_view path) {
    auto st = service_->Stat(path);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->version : std::string();
  }

  std::string ReadAll(std::string_view path) {
    auto plan = service_->Read(path, "", 0, UINT64_MAX);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? testing_support::PlanBytes(*plan) : std::string();
  }

  TempDir cache_;
  ManualClock clock_;
  MemoryUnderStore memory_;
  CountingStore store_{memory_};
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
};

TEST_F(MetadataSwrTest, AListingFillsTheCacheSoReadsNeedNoStat) {
  for (const char* name : {"/d/a", "/d/b", "/d/c"}) memory_.Put(name, std::string(100, 'x'));
  auto listed = service_->List("/d", false, "", 1000);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->entries.size(), 3U);
  for (const char* name : {"/d/a", "/d/b", "/d/c"}) {
    EXPECT_EQ(ReadAll(name), std::string(100, 'x'));
    auto cached = service_->CachedStatus(name);
    ASSERT_TRUE(cached);
    // The listing's version is what the under store checks reads against.
    EXPECT_EQ(cached->version, memory_.Stat(name)->version);
  }
  EXPECT_EQ(store_.stats.load(), 0);
  EXPECT_EQ(service_->counters().under_store_stats.load(), 0U);
  EXPECT_EQ(service_->counters().under_store_lists.load(), 1U);
  EXPECT_EQ(service_->counters().version_changes.load(), 0U);
}

TEST_F(MetadataSwrTest, PastTheTtlTheStaleStatusIsServedAndRefreshedOnceInTheBackground) {
  memory_.Put("/f", "one");
  const std::string v1 = VersionOf("/f");
  EXPECT_EQ(store_.stats.load(), 1);
  memory_.Put("/f", "two!");
  clock_.Advance(kTtl + seconds(1));
  // Served at once, stale, however many ask while the refresh is held; one refresh is queued.
  store_.HoldCalls(/*stats=*/true);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(VersionOf("/f"), v1);
  ASSERT_TRUE(store_.AwaitHeldCall());
  EXPECT_EQ(service_->CachedStatus("/f")->version, v1);
  store_.ReleaseCalls();
  service_->WaitForRefreshes();
  EXPECT_EQ(store_.stats.load(), 2);
  EXPECT_EQ(service_->counters().metadata_refreshes.load(), 1U);
  EXPECT_GE(service_->counters().metadata_stale_hits.load(), 5U);
  const std::string v2 = VersionOf("/f");
  EXPECT_NE(v2, v1);
  EXPECT_EQ(ReadAll("/f"), "two!");
  EXPECT_EQ(store_.stats.load(), 2);
}

TEST_F(MetadataSwrTest, PastTheHardLimitARequestAsksTheStoreItself) {
  memory_.Put("/f", "one");
  const std::string v1 = VersionOf("/f");
  memory_.Put("/f", "two!");
  clock_.Advance(kTtl + kMaxStale);
  EXPECT_NE(VersionOf("/f"), v1);  // synchronously, no background refresh
  EXPECT_EQ(store_.stats.load(), 2);
  EXPECT_EQ(service_->counters().metadata_refreshes.load(), 0U);
  EXPECT_FALSE(service_->CachedStatus("/g"));
}

TEST_F(MetadataSwrTest, ZeroMaxStaleDisablesServingStaleStatuses) {
  Open(milliseconds(0));
  memory_.Put("/f", "one");
  const std::string v1 = VersionOf("/f");
  memory_.Put("/f", "two!");
  clock_.Advance(kTtl);
  EXPECT_FALSE(service_->CachedStatus("/f"));
  EXPECT_NE(VersionOf("/f"), v1);
  EXPECT_EQ(store_.stats.load(), 2);
  EXPECT_EQ(service_->counters().metadata_stale_hits.load(), 0U);
}

TEST_F(MetadataSwrTest, AStaleListedDirectoryIsRefreshedByOneListingForAllItsFiles) {
  memory_.Put("/d/a", "a1");
  memory_.Put("/d/b", "b1");
  memory_.Put("/d/c", "c1");
  ASSERT_TRUE(service_->List("/d", false, "", 1000).ok());
  const std::string a1 = VersionOf("/d/a");
  memory_.Put("/d/a", "a2");
  memory_.Remove("/d/b");
  clock_.Advance(kTtl + seconds(1));

  store_.HoldCalls();
  EXPECT_EQ(VersionOf("/d/a"), a1);  // stale, served while its listing is held
  ASSERT_TRUE(store_.AwaitHeldCall());
  // The other files' stale statuses join the running listing; none waits for it.
  EXPECT_TRUE(service_->CachedStatus("/d/b"));
  EXPECT_TRUE(service_->Stat("/d/c").ok());
  store_.ReleaseCalls();
  service_->WaitForRefreshes();

  EXPECT_EQ(store_.lists.load(), 2);  // the first listing and one refresh
  EXPECT_EQ(store_.stats.load(), 0);
  EXPECT_NE(VersionOf("/d/a"), a1);
  EXPECT_EQ(ReadAll("/d/a"), "a2");
  EXPECT_FALSE(service_->CachedStatus("/d/b"));  // deleted: no longer served
  EXPECT_EQ(service_->Stat("/d/b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadAll("/d/c"), "c1");
  EXPECT_EQ(store_.lists.load(), 2);
}

TEST_F(MetadataSwrTest, AStaleListedStatusOfAChangedObjectNeverReadsOldBytesOnAMiss) {
  memory_.Put("/d/a", "old bytes");
  ASSERT_TRUE(service_->List("/d", false, "", 1000).ok());
  memory_.Put("/d/a", "new bytes, longer");
  clock_.Advance(kTtl + seconds(1));
  store_.HoldCalls();  // the refresh cannot land: the read plans with the stale status
  const std::string bytes = ReadAll("/d/a");
  store_.ReleaseCalls();
  service_->WaitForRefreshes();
  EXPECT_EQ(bytes, "new bytes, longer");
  EXPECT_GE(service_->counters().version_changes.load(), 1U);
}

TEST_F(MetadataSwrTest, ARequestPinningTheCachedVersionNeedsNoRevalidation) {
  memory_.Put("/f", "one");
  const std::string v1 = VersionOf("/f");
  clock_.Advance(kTtl + kMaxStale + seconds(1));
  auto st = service_->StatForRead("/f", v1);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->version, v1);
  service_->WaitForRefreshes();
  EXPECT_EQ(store_.stats.load(), 1);
}

TEST_F(MetadataSwrTest, AFileAtAPinnedHuggingFaceCommitIsNeverAskedForAgain) {
  const std::string commit(40, 'a');
  const std::string pinned = "hf://datasets/org/name@" + commit + "/train.parquet";
  store_.SetExtra(FileStatus{pinned, false, 10, 0, "hf:" + commit + ":oid1"});
  const std::string branch = "hf://datasets/org/name@main/train.parquet";
  store_.SetExtra(FileStatus{branch, false, 10, 0, "hf:" + commit + ":oid1"});
  ASSERT_TRUE(service_->Stat(pinned).ok());
  ASSERT_TRUE(service_->Stat(branch).ok());
  EXPECT_EQ(store_.stats.load(), 2);
  clock_.Advance(kTtl + kMaxStale + seconds(1));
  EXPECT_TRUE(service_->CachedStatus(pinned));
  EXPECT_TRUE(service_->Stat(pinned).ok());
  EXPECT_EQ(store_.stats.load(), 2);
  EXPECT_FALSE(service_->CachedStatus(branch));  // a branch moves: past the limit, asked again
  EXPECT_TRUE(service_->Stat(branch).ok());
  EXPECT_EQ(store_.stats.load(), 3);
}

TEST(ImmutableStatusTest, OnlyAPathPinnedToTheCommitItsVersionNames) {
  const std::string commit(40, 'b');
  const std::string other(40, 'c');
  const std::string path = "hf://datasets/org/name@" + commit + "/x";
  EXPECT_TRUE(IsImmutableStatus(FileStatus{path, false, 1, 0, "hf:" + commit + ":oid"}));
  EXPECT_TRUE(IsImmutableStatus(FileStatus{path, false, 1, 0, "hf:" + commit}));
  EXPECT_FALSE(IsImmutableStatus(FileStatus{path, false, 1, 0, "hf:" + other + ":oid"}));
  EXPECT_FALSE(IsImmutableStatus(FileStatus{path, false, 1, 0, "hf:" + commit + "0:oid"}));
  EXPECT_FALSE(IsImmutableStatus(FileStatus{path, true, 0, 0, "hf:" + commit}));
  EXPECT_FALSE(
      IsImmutableStatus(FileStatus{"hf://datasets/org/name@main/x", false, 1, 0, "hf:" + commit}));
  EXPECT_FALSE(IsImmutableStatus(FileStatus{"s3://b/" + commit, false, 1, 0, "hf:" + commit}));
}

}  // namespace
}  // namespace epochcache::worker
