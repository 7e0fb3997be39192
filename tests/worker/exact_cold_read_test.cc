// Exact cold reads: a miss fetches only the 64 KiB chunks covering the requested bytes, a later
// read fetches only what is still missing, a whole-page read is one large fetch, the missing
// pages of one read are fetched in parallel, and readers of the same missing chunks share one
// fetch. Real page store on a temp dir; in-memory under store.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "support/fault_env.h"
#include "support/read_plan_bytes.h"
#include "temp_dir.h"
#include "understore/memory_under_store.h"
#include "worker/read_service.h"

namespace epochcache::worker {
namespace {

using testing::PatternBytes;
using testing::TempDir;

constexpr std::uint64_t kChunk = PageStore::kChunkSize;
constexpr std::uint64_t kPageSize = std::uint64_t{1} << 20;

// Forwards to a MemoryUnderStore; records each ReadRange, and can hold reads until `hold`
// of them are in flight at once (or a bounded time passed), to observe concurrency.
class RecordingUnderStore final : public UnderStore {
 public:
  explicit RecordingUnderStore(MemoryUnderStore& inner) : inner_(inner) {}

  [[nodiscard]] std::string_view Scheme() const override { return inner_.Scheme(); }
  Result<FileStatus> Stat(std::string_view path) override { return inner_.Stat(path); }
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return inner_.List(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override {
    return inner_.ListAfter(path, recursive, start_after, limit);
  }
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override {
    {
      std::unique_lock lock(mu_);
      sizes_.push_back(out.size());
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      // Once `hold_` were in flight together, every read goes on (even when the first of them
      // already finished).
      if (in_flight_ >= hold_) released_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, hold_for_, [&] { return released_; });
    }
    auto got = inner_.ReadRange(path, version, offset, out);
    std::lock_guard lock(mu_);
    --in_flight_;
    return got;
  }

  void HoldUntil(int in_flight, std::chrono::milliseconds at_most) {
    std::lock_guard lock(mu_);
    hold_ = in_flight;
    hold_for_ = at_most;
    released_ = false;
  }
  int max_in_flight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  std::vector<std::size_t> sizes() {
    std::lock_guard lock(mu_);
    return sizes_;
  }

 private:
  MemoryUnderStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int hold_ = 0;
  std::chrono::milliseconds hold_for_{0};
  bool released_ = true;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::vector<std::size_t> sizes_;
};

class ExactColdReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PageStoreOptions options;
    options.dirs.push_back({cache_.str() + "/pages", std::uint64_t{64} << 20});
    options.page_size = kPageSize;
    options.env = &env_;
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    service_ = std::make_unique<ReadService>(under_, *pages_);
  }

  std::string Read(std::uint64_t offset, std::uint64_t length) {
    auto plan = service_->Read("/f", "", offset, length);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? testing_support::PlanBytes(*plan) : std::string();
  }

  std::uint64_t UnderBytes() const { return service_->counters().under_store_bytes.load(); }

  TempDir cache_;
  testing_support::FaultEnv env_;
  MemoryUnderStore memory_;
  RecordingUnderStore under_{memory_};
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
};

TEST_F(ExactColdReadTest, SmallRangeFetchesOnlyItsChunksAndAFullReadTheRestOnce) {
  const std::string data = PatternBytes(3 * kPageSize + 1000, 1);
  memory_.Put("/f", data);
  // 100 KB in the middle of page 1: chunks 7..9 of it.
  const std::uint64_t offset = kPageSize + 500000;
  EXPECT_EQ(Read(offset, 100000), data.substr(offset, 100000));
  EXPECT_LE(UnderBytes(), 3 * kChunk);
  EXPECT_EQ(UnderBytes(), 3 * kChunk);
  EXPECT_EQ(pages_->Stats().chunks_filled, 3U);
  EXPECT_EQ(pages_->Stats().misses, 1U);  // one missed slice counts once
  EXPECT_EQ(service_->counters().page_misses.load(), 1U);

  // Again: a hit.
  EXPECT_EQ(Read(offset, 100000), data.substr(offset, 100000));
  EXPECT_EQ(UnderBytes(), 3 * kChunk);

  // The whole file: every byte fetched exactly once in all.
  EXPECT_EQ(Read(0, UINT64_MAX), data);
  EXPECT_EQ(UnderBytes(), data.size());
  EXPECT_EQ(memory_.bytes_read(), data.size());
  EXPECT_EQ(pages_->Stats().chunks_filled, 3 * (kPageSize / kChunk) + 1);
  // Page 1 lacked two runs around the cached chunks; the others were one read each.
  EXPECT_EQ(service_->counters().under_store_reads.load(), 1U + 2U + 3U);

  EXPECT_EQ(Read(0, UINT64_MAX), data);
  EXPECT_EQ(UnderBytes(), data.size());
  auto plan = service_->Read("/f", "", 0, UINT64_MAX);
  ASSERT_TRUE(plan.ok());
  for (const auto& segment : plan->segments) EXPECT_TRUE(segment.is_page());
}

TEST_F(ExactColdReadTest, WholePageReadIsOneLargeFetch) {
  const std::string data = PatternBytes(2 * kPageSize, 2);
  memory_.Put("/f", data);
  EXPECT_EQ(Read(kPageSize, kPageSize), data.substr(kPageSize, kPageSize));
  EXPECT_EQ(under_.sizes(), std::vector<std::size_t>{kPageSize});
  // A load of a page-aligned block too.
  auto loaded = service_->Load("/f", 0, kPageSize);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(under_.sizes(), (std::vector<std::size_t>{kPageSize, kPageSize}));
  EXPECT_EQ(UnderBytes(), data.size());
}

TEST_F(ExactColdReadTest, PartlyCachedSliceIsServedFromPageAndFetchedRuns) {
  const std::string data = PatternBytes(kPageSize, 3);
  memory_.Put("/f", data);
  EXPECT_EQ(Read(2 * kChunk + 10, 100), data.substr(2 * kChunk + 10, 100));
  EXPECT_EQ(Read(4 * kChunk + 10, 100), data.substr(4 * kChunk + 10, 100));
  // Chunks 1..5: 1, 3 and 5 are missing; the single cached chunks between them are cheaper
  // fetched again than paying two more requests.
  EXPECT_EQ(Read(kChunk, 5 * kChunk), data.substr(kChunk, 5 * kChunk));
  EXPECT_EQ(under_.sizes(), (std::vector<std::size_t>{kChunk, kChunk, 5 * kChunk}));

  // Chunks 8 and 12 cached; a read of 6..15 lacks [6,8), [9,12) and [13,16), one cached
  // chunk apart: one request for all of 6..15.
  EXPECT_EQ(Read(8 * kChunk, 1), data.substr(8 * kChunk, 1));
  EXPECT_EQ(Read(12 * kChunk, 1), data.substr(12 * kChunk, 1));
  EXPECT_EQ(Read(6 * kChunk, 10 * kChunk), data.substr(6 * kChunk, 10 * kChunk));
  EXPECT_EQ(under_.sizes().back(), 10 * kChunk);

  // The whole page now misses only chunk 0 and is answered from the page and a fetched run.
  auto plan = service_->Read("/f", "", 0, kPageSize);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(testing_support::PlanBytes(*plan), data);
  ASSERT_EQ(plan->segments.size(), 2U);
  EXPECT_FALSE(plan->segments[0].is_page());
  EXPECT_EQ(plan->segments[0].length, kChunk);
  EXPECT_TRUE(plan->segments[1].is_page());
  EXPECT_EQ(under_.sizes().back(), kChunk);
}

TEST_F(ExactColdReadTest, MissingPagesOfOneReadAreFetchedInParallel) {
  const std::string data = PatternBytes(4 * kPageSize, 4);
  memory_.Put("/f", data);
  // Each fetch waits until all four are in flight (at most 5 s).
  under_.HoldUntil(4, std::chrono::seconds(5));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Read(0, UINT64_MAX), data);
  EXPECT_EQ(under_.max_in_flight(), 4);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(UnderBytes(), data.size());
  EXPECT_EQ(service_->miss_budget().used(), 0U);
}

TEST_F(ExactColdReadTest, ReadersOfTheSameMissingChunksShareOneFetch) {
  const std::string data = PatternBytes(kPageSize, 5);
  memory_.Put("/f", data);
  // The first fetch waits (2 s) for a second that never comes, while the readers arrive.
  under_.HoldUntil(2, std::chrono::seconds(2));
  constexpr int kReaders = 6;
  std::atomic<int> wrong{0};
  {
    std::vector<std::jthread> readers;
    for (int i = 0; i < kReaders; ++i) {
      readers.emplace_back([&] {
        auto plan = service_->Read("/f", "", 300000, 100000);
        if (!plan.ok() || testing_support::PlanBytes(*plan) != data.substr(300000, 100000)) {
          wrong.fetch_add(1);
        }
      });
    }
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(under_.sizes().size(), 1U);
  EXPECT_EQ(UnderBytes(), 3 * kChunk);  // chunks 4..6 cover [300000, 400000)
  EXPECT_EQ(service_->counters().single_flight_joins.load() + service_->counters().page_hits.load(),
            static_cast<std::uint64_t>(kReaders - 1));
}

TEST_F(ExactColdReadTest, DiskFullWhileFillingStillAnswersRightBytes) {
  const std::string data = PatternBytes(kPageSize, 6);
  memory_.Put("/f", data);
  EXPECT_EQ(Read(100, 1000), data.substr(100, 1000));
  env_.Fail(testing_support::FaultOp::kWrite, EIO);
  EXPECT_EQ(Read(5 * kChunk, 3 * kChunk), data.substr(5 * kChunk, 3 * kChunk));
  EXPECT_EQ(pages_->Stats().dir_errors, 1U);
  env_.TearWrites(kChunk / 2, ENOSPC);
  EXPECT_EQ(Read(0, kPageSize), data);  // answered from the fetched run; the fill was refused
  EXPECT_GE(pages_->Stats().rejected_puts, 1U);
  env_.Clear();
  EXPECT_EQ(Read(0, kPageSize), data);
  EXPECT_EQ(Read(0, kPageSize), data);
  EXPECT_EQ(pages_->Stats().checksum_failures, 0U);
}

}  // namespace
}  // namespace epochcache::worker
