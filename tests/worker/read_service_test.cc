#include "worker/read_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "support/read_plan_bytes.h"
#include "temp_dir.h"
#include "understore/memory_under_store.h"
#include "worker/http_util.h"

namespace epochcache::worker {
namespace {

using testing::PatternBytes;
using testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;

class ReadServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenService(); }

  void OpenService(std::chrono::milliseconds ttl = std::chrono::seconds(10),
                   std::uint64_t max_inflight_miss_bytes = std::uint64_t{256} << 20) {
    service_.reset();
    pages_.reset();
    PageStoreOptions options;
    options.dirs.push_back({cache_.str() + "/pages", 64 << 20});
    options.page_size = kPageSize;
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    ReadServiceOptions read_options;
    read_options.metadata_ttl = ttl;
    read_options.max_inflight_miss_bytes = max_inflight_miss_bytes;
    service_ = std::make_unique<ReadService>(under_, *pages_, read_options);
  }

  std::string ReadAll(std::string_view path, std::uint64_t offset = 0,
                      std::uint64_t length = UINT64_MAX) {
    auto plan = service_->Read(path, "", offset, length);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? testing_support::PlanBytes(*plan) : std::string();
  }

  TempDir cache_;
  MemoryUnderStore under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
};

TEST_F(ReadServiceTest, SecondReadIsServedFromPagesWithoutUnderStoreBytes) {
  const std::string data = PatternBytes(3 * kPageSize + 100, 1);
  under_.Put("/d/f", data);
  EXPECT_EQ(ReadAll("/d/f"), data);
  auto& c = service_->counters();
  EXPECT_EQ(c.under_store_bytes.load(), data.size());
  EXPECT_EQ(c.under_store_reads.load(), 4U);
  EXPECT_EQ(c.page_misses.load(), 4U);
  EXPECT_EQ(c.page_hits.load(), 0U);

  const auto bytes_before = under_.bytes_read();
  EXPECT_EQ(ReadAll("/d/f"), data);
  EXPECT_EQ(under_.bytes_read(), bytes_before);
  EXPECT_EQ(c.under_store_bytes.load(), data.size());
  EXPECT_EQ(c.page_hits.load(), 4U);
  auto plan = service_->Read("/d/f", "", 0, UINT64_MAX);
  ASSERT_TRUE(plan.ok());
  for (const auto& segment : plan->segments) EXPECT_TRUE(segment.is_page());
}

TEST_F(ReadServiceTest, RangesAreClippedAndPageAligned) {
  const std::string data = PatternBytes(2 * kPageSize + 10, 2);
  under_.Put("/f", data);
  EXPECT_EQ(ReadAll("/f", 100, 5000), data.substr(100, 5000));
  EXPECT_EQ(ReadAll("/f", kPageSize - 1, 2), data.substr(kPageSize - 1, 2));
  EXPECT_EQ(ReadAll("/f", 2 * kPageSize + 5, 1000), data.substr(2 * kPageSize + 5));
  EXPECT_EQ(ReadAll("/f", data.size(), 10), "");
  EXPECT_EQ(ReadAll("/f", data.size() + 100, 10), "");
  EXPECT_EQ(ReadAll("/f", 0, 0), "");
  // Whole pages were fetched and cached, so the clipped reads above cost three page reads.
  EXPECT_EQ(service_->counters().under_store_reads.load(), 3U);
  EXPECT_EQ(service_->counters().under_store_bytes.load(), data.size());
}

TEST_F(ReadServiceTest, EmptyFileAndErrors) {
  under_.Put("/empty", "");
  auto plan = service_->Read("/empty", "", 0, UINT64_MAX);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->length, 0U);
  EXPECT_TRUE(plan->segments.empty());

  EXPECT_EQ(service_->Read("/missing", "", 0, 10).status().code(), StatusCode::kNotFound);
  under_.Put("/dir/x", "x");
  EXPECT_EQ(service_->Read("/dir", "", 0, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ReadServiceTest, ChangedObjectIsNeverServedFromOldPages) {
  OpenService(std::chrono::milliseconds(0));  // every read sees the current status
  const std::string original = PatternBytes(2 * kPageSize, 3);
  under_.Put("/f", original);
  auto first = service_->Stat("/f");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ReadAll("/f"), original);  // now cached, under the first version's key

  const std::string replacement = PatternBytes(2 * kPageSize, 4);
  under_.Put("/f", replacement);
  EXPECT_EQ(ReadAll("/f"), replacement);
  EXPECT_EQ(service_->Read("/f", first->version, 0, 10).status().code(), StatusCode::kChanged);
  EXPECT_EQ(service_->counters().under_store_bytes.load(), original.size() + replacement.size());
}

TEST_F(ReadServiceTest, WithinTheTtlAWholeOldVersionIsServedUntilForgotten) {
  const std::string original = PatternBytes(2 * kPageSize, 8);
  under_.Put("/f", original);
  EXPECT_EQ(ReadAll("/f"), original);
  const std::string replacement = PatternBytes(2 * kPageSize, 9);
  under_.Put("/f", replacement);
  // The cached status still names the first version, whose pages are all cached: the
  // answer is that version, whole (the TTL's documented staleness), never a mix.
  auto plan = service_->Read("/f", "", 0, UINT64_MAX);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(testing_support::PlanBytes(*plan), original);
  service_->ForgetStatus("/f");
  EXPECT_EQ(ReadAll("/f"), replacement);
}

TEST_F(ReadServiceTest, ReplacementDuringAMissIsDetectedAndReplanned) {
  under_.Put("/f", PatternBytes(2 * kPageSize, 5));
  ASSERT_TRUE(service_->Stat("/f").ok());  // caches the first version's status
  const std::string replacement = PatternBytes(3 * kPageSize, 6);
  under_.Put("/f", replacement);
  // Nothing is cached yet: the first under-store read meets the new version, fails kChanged,
  // and the read is replanned from a fresh status: all new bytes, no mix.
  EXPECT_EQ(ReadAll("/f"), replacement);
  EXPECT_GE(service_->counters().version_changes.load(), 1U);
}

TEST_F(ReadServiceTest, RequestedVersionMismatchIsChanged) {
  under_.Put("/f", "abc");
  EXPECT_EQ(service_->Read("/f", "no-such-version", 0, 3).status().code(), StatusCode::kChanged);
  auto status = service_->Stat("/f");
  ASSERT_TRUE(status.ok());
  auto plan = service_->Read("/f", status->version, 0, 3);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(testing_support::PlanBytes(*plan), "abc");
}

TEST_F(ReadServiceTest, StaleCachedStatusDoesNotRefuseANewerRequestedVersion) {
  under_.Put("/f", "old");
  ASSERT_TRUE(service_->Stat("/f").ok());
  under_.Put("/f", "new!");
  auto fresh = under_.Stat("/f");
  ASSERT_TRUE(fresh.ok());
  auto plan = service_->Read("/f", fresh->version, 0, 10);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(testing_support::PlanBytes(*plan), "new!");
}

TEST_F(ReadServiceTest, MetadataIsCachedForTheTtl) {
  under_.Put("/f", "abc");
  ASSERT_TRUE(service_->Stat("/f").ok());
  ASSERT_TRUE(service_->Stat("/f").ok());
  EXPECT_EQ(service_->counters().metadata_misses.load(), 1U);
  EXPECT_EQ(service_->counters().metadata_hits.load(), 1U);

  OpenService(std::chrono::milliseconds(0));
  ASSERT_TRUE(service_->Stat("/f").ok());
  ASSERT_TRUE(service_->Stat("/f").ok());
  EXPECT_EQ(service_->counters().metadata_misses.load(), 2U);
}

TEST_F(ReadServiceTest, UnderStoreFailureIsReported) {
  under_.Put("/f", "abc");
  under_.InjectFailure(Status::Unavailable("injected"));
  EXPECT_EQ(service_->Read("/f", "", 0, 3).status().code(), StatusCode::kUnavailable);
  under_.InjectFailure(Status::Ok());
  EXPECT_EQ(ReadAll("/f"), "abc");
}

TEST_F(ReadServiceTest, ConcurrentColdReadsFetchEachPageOnce) {
  const std::string data = PatternBytes(8 * kPageSize + 123, 7);
  under_.Put("/big", data);
  constexpr int kThreads = 32;
  std::atomic<int> ready{0};
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      auto plan = service_->Read("/big", "", 0, UINT64_MAX);
      if (!plan.ok() || testing_support::PlanBytes(*plan) != data) mismatches.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(under_.bytes_read(), data.size());
  EXPECT_EQ(service_->counters().under_store_bytes.load(), data.size());
  EXPECT_EQ(service_->counters().under_store_reads.load(), 9U);
}

TEST_F(ReadServiceTest, ListRefreshesFileStatuses) {
  under_.Put("/d/a", "1");
  under_.Put("/d/sub/b", "22");
  auto flat = service_->List("/d", false);
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(flat->size(), 2U);
  EXPECT_EQ((*flat)[0].path, "/d/a");
  EXPECT_TRUE((*flat)[1].is_directory);
  auto deep = service_->List("/d", true);
  ASSERT_TRUE(deep.ok());
  ASSERT_EQ(deep->size(), 2U);
  EXPECT_EQ((*deep)[1].path, "/d/sub/b");
  const auto misses = service_->counters().metadata_misses.load();
  ASSERT_TRUE(service_->Stat("/d/sub/b").ok());
  EXPECT_EQ(service_->counters().metadata_misses.load(), misses);
  EXPECT_EQ(service_->List("/nope", false).status().code(), StatusCode::kNotFound);
}

TEST_F(ReadServiceTest, ListPagesFollowThePathOrder) {
  for (const char* name : {"/d/c", "/d/a", "/d/e", "/d/b", "/d/d"}) under_.Put(name, "x");
  auto first = service_->List("/d", false, "", 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->entries.size(), 2U);
  EXPECT_EQ(first->entries[0].path, "/d/a");
  EXPECT_EQ(first->entries[1].path, "/d/b");
  EXPECT_TRUE(first->more);
  auto rest = service_->List("/d", false, "/d/b", 3);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->entries.size(), 3U);
  EXPECT_EQ(rest->entries[0].path, "/d/c");
  EXPECT_EQ(rest->entries[2].path, "/d/e");
  EXPECT_FALSE(rest->more);
  // start_after need not name an entry; past the last one the page is empty.
  auto between = service_->List("/d", false, "/d/bb", 10);
  ASSERT_TRUE(between.ok());
  EXPECT_EQ(between->entries.front().path, "/d/c");
  auto past = service_->List("/d", false, "/d/z", 10);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->entries.empty());
  EXPECT_FALSE(past->more);
  // Only the returned page refreshed the metadata cache.
  EXPECT_TRUE(service_->CachedStatus("/d/a"));
  EXPECT_FALSE(service_->CachedStatus("/d/z"));
}

// The in-memory under store, counting whole listings and listing pages separately.
class CountingUnderStore final : public UnderStore {
 public:
  MemoryUnderStore files;
  int whole_listings = 0;
  int pages = 0;
  std::vector<std::size_t> limits;

  [[nodiscard]] std::string_view Scheme() const override { return "counting"; }
  Result<FileStatus> Stat(std::string_view path) override { return files.Stat(path); }
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    ++whole_listings;
    return files.List(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override {
    ++pages;
    limits.push_back(limit);
    return files.ListAfter(path, recursive, start_after, limit);
  }
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override {
    return files.ReadRange(path, version, offset, out);
  }
};

TEST_F(ReadServiceTest, EachListPageIsOnePagedUnderStoreCall) {
  CountingUnderStore under;
  for (int i = 0; i < 95; ++i) under.files.Put("/d/f" + std::to_string(100 + i), "x");
  ReadService service(under, *pages_);
  std::vector<std::string> listed;
  std::string after;
  int requests = 0;
  for (bool more = true; more && requests < 100; ++requests) {
    auto page = service.List("/d", true, after, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& e : page->entries) listed.push_back(e.path);
    more = page->more;
    if (more) after = page->entries.back().path;
  }
  EXPECT_EQ(requests, 10);
  EXPECT_EQ(listed.size(), 95U);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), 95U);
  // One paged call per page, asking for the page's size: never the whole listing.
  EXPECT_EQ(under.pages, 10);
  EXPECT_EQ(under.whole_listings, 0);
  EXPECT_EQ(under.limits, std::vector<std::size_t>(10, 10));
  // The listed files' statuses are cached: a stat after the listing asks nothing more.
  const auto misses = service.counters().metadata_misses.load();
  ASSERT_TRUE(service.Stat("/d/f150").ok());
  EXPECT_EQ(service.counters().metadata_misses.load(), misses);
}

TEST_F(ReadServiceTest, PathsThatBreakThePathRulesAreRefusedBeforeTheUnderStore) {
  under_.Put("/d/x", "abc");
  for (const char* bad : {"/d/../d/x", "/d/./x", "/d//x", "/d/x?y", "/d/x#y", "d/x"}) {
    EXPECT_EQ(service_->Stat(bad).status().code(), StatusCode::kPermissionDenied) << bad;
    EXPECT_EQ(service_->Read(bad, "", 0, 3).status().code(), StatusCode::kPermissionDenied) << bad;
    EXPECT_EQ(service_->List(bad, false).status().code(), StatusCode::kPermissionDenied) << bad;
    EXPECT_FALSE(service_->CachedStatus(bad)) << bad;
  }
  EXPECT_EQ(service_->Stat(std::string("/d/x\0", 5)).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(under_.read_calls(), 0U);
  EXPECT_EQ(service_->metadata_cache().size(), 0U);
}

TEST_F(ReadServiceTest, MissBuffersStayWithinTheInFlightBudget) {
  constexpr int kHeld = 3;
  OpenService(std::chrono::seconds(10), kHeld * kPageSize);
  const std::string data = PatternBytes(8 * kPageSize, 11);
  under_.Put("/f", data);
  // Each plan holds one fetched page in memory until it is dropped (as a sender does once the
  // bytes are on the wire).
  std::vector<ReadPlan> held;
  for (int i = 0; i < kHeld; ++i) {
    auto plan = service_->Read("/f", "", i * kPageSize, kPageSize);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_FALSE(plan->segments.at(0).is_page());
    held.push_back(std::move(plan).value());
    EXPECT_LE(service_->miss_budget().used(), service_->miss_budget().limit());
  }
  EXPECT_EQ(service_->miss_budget().used(), kHeld * kPageSize);

  const auto reads_before = under_.read_calls();
  auto refused = service_->Read("/f", "", kHeld * kPageSize, kPageSize);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(refused.status().message().starts_with("worker busy: "))
      << refused.status().message();
  EXPECT_TRUE(IsWorkerBusy(refused.status()));
  EXPECT_EQ(under_.read_calls(), reads_before);  // refused before asking the under store
  EXPECT_EQ(service_->counters().miss_budget_refusals.load(), 1U);

  // Hits cost no budget: the pages fetched above are in the page store now.
  auto hit = service_->Read("/f", "", 0, kPageSize);
  ASSERT_TRUE(hit.ok()) << hit.status().ToString();
  EXPECT_TRUE(hit->segments.at(0).is_page());

  held.pop_back();  // its bytes were sent: the budget has room for one more page
  EXPECT_EQ(service_->miss_budget().used(), (kHeld - 1) * kPageSize);
  // A two-page read gets its first page, is refused the second, and gives the first back.
  auto partial = service_->Read("/f", "", kHeld * kPageSize, 2 * kPageSize);
  EXPECT_TRUE(IsWorkerBusy(partial.status())) << partial.status().ToString();
  EXPECT_EQ(service_->miss_budget().used(), (kHeld - 1) * kPageSize);

  auto next = service_->Read("/f", "", 6 * kPageSize, kPageSize);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_FALSE(next->segments.at(0).is_page());
  EXPECT_EQ(testing_support::PlanBytes(*next), data.substr(6 * kPageSize, kPageSize));
  EXPECT_EQ(service_->miss_budget().used(), kHeld * kPageSize);
  next = ReadPlan{};  // drops the buffer
  held.clear();
  EXPECT_EQ(service_->miss_budget().used(), 0U);
  EXPECT_EQ(ReadAll("/f"), data);  // and nothing is stuck
  EXPECT_EQ(service_->miss_budget().used(), 0U);
}

TEST_F(ReadServiceTest, CachedReadsNeverTouchTheUnderStore) {
  const std::string data = PatternBytes(3 * kPageSize + 7, 12);
  under_.Put("/f", data);
  EXPECT_FALSE(service_->CachedStatus("/f"));  // nothing cached, and not fetched either
  ASSERT_TRUE(service_->Stat("/f").ok());
  auto status = service_->CachedStatus("/f");
  ASSERT_TRUE(status);
  EXPECT_FALSE(service_->TryReadCached(*status, 0, UINT64_MAX));  // cold pages: declined
  EXPECT_EQ(under_.read_calls(), 0U);

  ASSERT_TRUE(service_->Read("/f", "", kPageSize, kPageSize).ok());  // caches page 1 only
  const auto reads = under_.read_calls();
  auto page1 = service_->TryReadCached(*status, kPageSize + 5, 100);
  ASSERT_TRUE(page1);
  ASSERT_TRUE(page1->ok());
  EXPECT_EQ(testing_support::PlanBytes(page1->value()), data.substr(kPageSize + 5, 100));
  // A range one byte into an uncached page is declined as a whole.
  EXPECT_FALSE(service_->TryReadCached(*status, kPageSize, kPageSize + 1));

  EXPECT_EQ(ReadAll("/f"), data);
  auto all = service_->TryReadCached(*status, 0, UINT64_MAX);
  ASSERT_TRUE(all && all->ok());
  EXPECT_EQ(testing_support::PlanBytes(all->value()), data);
  for (const auto& segment : all->value().segments) EXPECT_TRUE(segment.is_page());
  auto empty = service_->TryReadCached(*status, data.size(), 10);
  ASSERT_TRUE(empty && empty->ok());
  EXPECT_EQ(empty->value().length, 0U);
  EXPECT_EQ(under_.read_calls(), reads + 3);  // only the ReadAll's three misses
}

}  // namespace
}  // namespace epochcache::worker
