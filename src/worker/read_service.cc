#include "worker/read_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <utility>

#include "common/path_rules.h"
#include "understore/immutable_status.h"
#include "worker/http_util.h"

namespace epochcache::worker {
namespace {

// How many times a slice is looked up again after a concurrent fetch reported the page as
// stored; past that (the page was evicted in between every time) it is fetched directly.
constexpr int kPageLookups = 3;

// Missing pages of one read fetched at once, at most (each also holds its bytes of the
// worker-wide miss budget while in flight).
constexpr std::size_t kParallelFetches = 8;

// A cached run of at most this many chunks between two missing runs is fetched again with
// them: one larger request costs less than two round trips to the under store.
constexpr std::uint32_t kMaxGapChunks = 1;

constexpr std::uint64_t kChunk = PageStore::kChunkSize;

std::string FlightKey(const std::string& file_key, std::uint64_t index, std::uint32_t first,
                      std::uint32_t end, bool direct) {
  return file_key + ":" + std::to_string(index) + ":" + std::to_string(first) + "-" +
         std::to_string(end) + (direct ? ":direct" : "");
}

// Chunk runs [first, end) to fetch so that chunks [first, end) are all in hand: the missing
// ones, neighbours coalesced, small cached gaps between runs included.
std::vector<std::pair<std::uint32_t, std::uint32_t>> RunsToFetch(const std::vector<bool>& present,
                                                                 std::uint32_t first,
                                                                 std::uint32_t end) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> runs;
  const auto cached = [&](std::uint32_t c) { return c < present.size() && present[c]; };
  for (std::uint32_t c = first; c < end;) {
    if (cached(c)) {
      ++c;
      continue;
    }
    std::uint32_t stop = c;
    while (stop < end && !cached(stop)) ++stop;
    if (!runs.empty() && c - runs.back().second <= kMaxGapChunks) {
      runs.back().second = stop;
    } else {
      runs.emplace_back(c, stop);
    }
    c = stop;
  }
  return runs;
}

// A miss buffer that holds its bytes' reservation: the bytes go back to the budget when the
// last plan segment sharing the buffer is dropped.
struct BudgetedBuffer {
  BudgetedBuffer(std::shared_ptr<ByteBudget> budget, std::uint64_t bytes)
      : budget(std::move(budget)), reserved(bytes), data(bytes) {}
  BudgetedBuffer(const BudgetedBuffer&) = delete;
  BudgetedBuffer& operator=(const BudgetedBuffer&) = delete;
  BudgetedBuffer(BudgetedBuffer&&) = delete;
  BudgetedBuffer& operator=(BudgetedBuffer&&) = delete;
  ~BudgetedBuffer() { budget->Release(reserved); }

  std::shared_ptr<ByteBudget> budget;
  std::uint64_t reserved;
  PageBuffer data;
};

// The part of page `index` that the bytes [offset, end) cover.
struct PageSlice {
  std::uint64_t index = 0;
  std::uint64_t begin = 0;  // within the page
  std::uint64_t length = 0;
};

std::vector<PageSlice> SlicesOf(std::uint64_t page_size, std::uint64_t offset, std::uint64_t end) {
  std::vector<PageSlice> slices;
  if (offset >= end) return slices;
  for (std::uint64_t index = offset / page_size; index * page_size < end; ++index) {
    const std::uint64_t page_start = index * page_size;
    const std::uint64_t begin = std::max(offset, page_start) - page_start;
    const std::uint64_t stop = std::min(end, page_start + page_size) - page_start;
    slices.push_back({index, begin, stop - begin});
  }
  return slices;
}

// An empty plan of `status` at `offset`, plus the end of the bytes to plan (clipped to the
// file); the end equals the offset when there is nothing to read.
std::pair<ReadPlan, std::uint64_t> StartPlan(const FileStatus& status, std::uint64_t offset,
                                             std::uint64_t length) {
  ReadPlan plan;
  plan.status = status;
  plan.offset = offset;
  if (offset >= status.size || length == 0) return {std::move(plan), offset};
  const std::uint64_t end = offset + std::min(length, status.size - offset);
  plan.length = end - offset;
  return {std::move(plan), end};
}

Status DirectoryRefused(const FileStatus& status) {
  return Status::InvalidArgument(status.path + " is a directory, not a file");
}

}  // namespace

bool ByteBudget::TryReserve(std::uint64_t bytes) {
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || used > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

void ByteBudget::Release(std::uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

ReadService::ReadService(UnderStore& under, PageStore& pages, ReadServiceOptions options)
    : under_(under),
      pages_(pages),
      options_(std::move(options)),
      page_size_(pages.page_size()),
      metadata_(options_.metadata_ttl, options_.clock != nullptr ? *options_.clock : Clock::Real(),
                options_.metadata_max_bytes, options_.metadata_max_stale),
      miss_budget_(std::make_shared<ByteBudget>(
          std::max(options_.max_inflight_miss_bytes, pages.page_size()))),
      refresher_(std::make_unique<MetadataRefresher>(
          options_.metadata_refresh_threads, options_.metadata_max_pending_refreshes,
          [this](const MetadataRefresher::Job& job) { RunRefresh(job); })) {}

Result<FileStatus> ReadService::Stat(std::string_view path) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  return CurrentStatus(path, {});
}

Result<FileStatus> ReadService::CurrentStatus(std::string_view path,
                                              std::string_view pinned_version) {
  if (auto found = metadata_.Lookup(path, pinned_version)) {
    Bump(counters_.metadata_hits);
    if (found->stale) Bump(counters_.metadata_stale_hits);
    if (found->refresh) StartRefresh(path, found->origin);
    return std::move(found->status);
  }
  Bump(counters_.metadata_misses);
  return FetchStatus(path);
}

Result<FileStatus> ReadService::FetchStatus(std::string_view path) {
  auto status = under_.Stat(path);
  Bump(counters_.under_store_stats);
  if (status.ok()) {
    metadata_.Put(path, *status,
                  {.listed_in = {}, .recursive = false, .immutable = IsImmutableStatus(*status)});
  } else if (status.status().code() != StatusCode::kNotFound) {
    Bump(counters_.under_store_errors);
  }
  return status;
}

std::optional<FileStatus> ReadService::CachedStatus(std::string_view path) {
  if (!CheckUnderPath(path).ok()) return std::nullopt;
  auto found = metadata_.Lookup(path);
  if (!found) return std::nullopt;
  Bump(counters_.metadata_hits);
  if (found->stale) Bump(counters_.metadata_stale_hits);
  // Only queued here: the refresh runs on the refresher's threads, never on a hit's.
  if (found->refresh) StartRefresh(path, found->origin);
  return std::move(found->status);
}

void ReadService::StartRefresh(std::string_view path, const MetadataCache::Origin& origin) {
  if (refresher_->Submit(path, origin.listed_in, origin.recursive)) return;
  Bump(counters_.metadata_refreshes_dropped);
  metadata_.EndRefresh(path);
}

void ReadService::RunRefresh(const MetadataRefresher::Job& job) {
  Bump(counters_.metadata_refreshes);
  if (job.listed_in.empty()) {
    auto status = FetchStatus(job.path);
    for (const auto& path : refresher_->Finish(job.key)) {
      if (status.ok()) continue;  // Put restarted its TTL
      if (status.status().code() == StatusCode::kNotFound) {
        metadata_.Invalidate(path);
      } else {
        metadata_.EndRefresh(path);
      }
    }
    if (!status.ok() && status.status().code() != StatusCode::kNotFound) {
      Bump(counters_.metadata_refresh_failures);
    }
    return;
  }
  auto entries = under_.List(job.listed_in, job.recursive);
  Bump(counters_.under_store_lists);
  if (entries.ok()) PutListed(job.listed_in, job.recursive, *entries);
  const bool gone = !entries.ok() && entries.status().code() == StatusCode::kNotFound;
  if (!entries.ok() && !gone) {
    Bump(counters_.under_store_errors);
    Bump(counters_.metadata_refresh_failures);
    spdlog::warn("refreshing the statuses listed in {} failed: {}", job.listed_in,
                 entries.status().ToString());
  }
  for (const auto& path : refresher_->Finish(job.key)) {
    if (!entries.ok()) {
      if (gone) {
        metadata_.Invalidate(path);
      } else {
        metadata_.EndRefresh(path);
      }
      continue;
    }
    // A stale status whose file the listing no longer shows was deleted (or is now a
    // directory): it must not be served any longer.
    const auto it = std::lower_bound(
        entries->begin(), entries->end(), path,
        [](const FileStatus& entry, const std::string& p) { return entry.path < p; });
    if (it == entries->end() || it->path != path || it->is_directory) metadata_.Invalidate(path);
  }
}

void ReadService::PutListed(std::string_view dir, bool recursive,
                            const std::vector<FileStatus>& entries) {
  for (const auto& entry : entries) {
    if (entry.is_directory || entry.path.empty()) continue;
    metadata_.Put(entry.path, entry,
                  {.listed_in = std::string(dir),
                   .recursive = recursive,
                   .immutable = IsImmutableStatus(entry)});
  }
}

Result<std::vector<FileStatus>> ReadService::List(std::string_view path, bool recursive) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  auto entries = under_.List(path, recursive);
  Bump(counters_.under_store_lists);
  if (entries.ok()) PutListed(path, recursive, *entries);
  return entries;
}

Result<ListPage> ReadService::List(std::string_view path, bool recursive,
                                   std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  auto page = under_.ListAfter(path, recursive, start_after, limit);
  Bump(counters_.under_store_lists);
  if (page.ok()) PutListed(path, recursive, page->entries);
  return page;
}

Result<FileStatus> ReadService::StatForRead(std::string_view path, std::string_view version) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  EC_ASSIGN_OR_RETURN(FileStatus status, CurrentStatus(path, version));
  if (!version.empty() && status.version != version) {
    metadata_.Invalidate(path);
    Bump(counters_.metadata_misses);
    EC_ASSIGN_OR_RETURN(status, FetchStatus(path));
    if (status.version != version) {
      Bump(counters_.version_changes);
      return Status::Changed(std::string(path) + " now has version " + status.version +
                             ", not the requested " + std::string(version));
    }
  }
  if (status.is_directory) return DirectoryRefused(status);
  return status;
}

void ReadService::ForgetStatus(std::string_view path) { metadata_.Invalidate(path); }

Result<ReadPlan> ReadService::Read(std::string_view path, std::string_view version,
                                   std::uint64_t offset, std::uint64_t length) {
  EC_ASSIGN_OR_RETURN(FileStatus status, StatForRead(path, version));
  auto plan = ReadVersion(status, offset, length);
  if (!plan.ok() && plan.status().code() == StatusCode::kChanged) {
    metadata_.Invalidate(path);
    // Without a requested version any current version will do: plan once more from a fresh
    // status. With one, the caller must learn that its version is gone.
    if (version.empty()) {
      EC_ASSIGN_OR_RETURN(status, StatForRead(path, version));
      return ReadVersion(status, offset, length);
    }
  }
  return plan;
}

Result<ReadPlan> ReadService::ReadVersion(const FileStatus& status, std::uint64_t offset,
                                          std::uint64_t length) {
  if (status.is_directory) return DirectoryRefused(status);
  auto [plan, end] = StartPlan(status, offset, length);
  const std::string file_key = MakeFileKey(status.path, status.version);
  const std::vector<PageSlice> slices = SlicesOf(page_size_, offset, end);
  std::vector<std::optional<Result<std::vector<ReadSegment>>>> parts(slices.size());
  // Hits first: the misses then all go to the under store at once.
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < slices.size(); ++i) {
    const PageSlice& slice = slices[i];
    auto page = pages_.Get(PageId{file_key, slice.index}, slice.begin, slice.length);
    if (!page.ok()) {
      missing.push_back(i);
      continue;
    }
    Bump(counters_.page_hits);
    std::vector<ReadSegment> hit(1);
    hit[0].page = std::move(page).value();
    hit[0].length = slice.length;
    parts[i] = std::move(hit);
  }
  const auto fetch = [&](std::size_t i) {
    const PageSlice& slice = slices[missing[i]];
    parts[missing[i]] = ReadPageSlice(status, file_key, slice.index, slice.begin, slice.length,
                                      /*just_missed=*/true);
  };
  {
    std::atomic<std::size_t> next{0};
    const auto worker = [&] {
      for (std::size_t i = next++; i < missing.size(); i = next++) fetch(i);
    };
    std::vector<std::jthread> helpers;
    const std::size_t threads = std::min(missing.size(), kParallelFetches);
    for (std::size_t t = 1; t < threads; ++t) {
      try {
        helpers.emplace_back(worker);
      } catch (const std::system_error& e) {
        // Out of threads: fetch with those we have.
        spdlog::warn("fetching {} pages with {} threads: {}", missing.size(), t, e.what());
        break;
      }
    }
    worker();
  }
  for (auto& part : parts) {
    if (!part->ok()) return part->status();
    for (ReadSegment& segment : part->value()) plan.segments.push_back(std::move(segment));
  }
  return std::move(plan);
}

std::optional<Result<ReadPlan>> ReadService::TryReadCached(const FileStatus& status,
                                                           std::uint64_t offset,
                                                           std::uint64_t length) {
  if (status.is_directory) return Result<ReadPlan>(DirectoryRefused(status));
  auto [plan, end] = StartPlan(status, offset, length);
  const std::string file_key = MakeFileKey(status.path, status.version);
  for (const PageSlice& slice : SlicesOf(page_size_, offset, end)) {
    auto page = pages_.Get(PageId{file_key, slice.index}, slice.begin, slice.length);
    // Any failure, not only NotFound, goes to the full path, which refetches what is wrong.
    if (!page.ok()) return std::nullopt;
    ReadSegment segment;
    segment.page = std::move(page).value();
    segment.length = slice.length;
    plan.segments.push_back(std::move(segment));
  }
  Bump(counters_.page_hits, plan.segments.size());
  return Result<ReadPlan>(std::move(plan));
}

std::optional<Result<ReadPlan>> ReadService::TryReadCachedPages(const FileStatus& status,
                                                                std::uint64_t offset,
                                                                std::uint64_t length,
                                                                std::uint64_t max_bytes) {
  if (status.is_directory || length == 0 || offset >= status.size) {
    return TryReadCached(status, offset, length);
  }
  const std::uint64_t end = offset + std::min(length, status.size - offset);
  const std::uint64_t first = offset / page_size_ * page_size_;
  const std::uint64_t last =
      std::min(status.size, (end + page_size_ - 1) / page_size_ * page_size_);
  bool whole = last - first <= max_bytes;
  // Asked first without a lookup, so that a partly cached page costs no miss in the stats.
  const std::string file_key = MakeFileKey(status.path, status.version);
  for (std::uint64_t index = first / page_size_; whole && index * page_size_ < last; ++index) {
    const std::vector<bool> present = pages_.PresentChunks(PageId{file_key, index});
    whole = !present.empty() && std::find(present.begin(), present.end(), false) == present.end();
  }
  if (whole) {
    if (auto plan = TryReadCached(status, first, last - first)) return plan;
  }
  return TryReadCached(status, offset, length);
}

Result<std::vector<ReadSegment>> ReadService::ReadPageSlice(
    const FileStatus& status, const std::string& file_key, std::uint64_t index, std::uint64_t begin,
    std::uint64_t length, bool just_missed) {
  const PageId id{file_key, index};
  const auto first = static_cast<std::uint32_t>(begin / kChunk);
  const auto end = static_cast<std::uint32_t>((begin + length + kChunk - 1) / kChunk);
  for (int attempt = 0; attempt <= kPageLookups; ++attempt) {
    // The last attempt ignores the page store: chunks it said it had vanished every time.
    const bool direct = attempt == kPageLookups;
    std::vector<bool> present;
    if (!direct && attempt == 0 && just_missed) {
      present = pages_.PresentChunks(id);
    } else if (!direct) {
      auto page = pages_.Get(id, begin, length);
      if (page.ok()) {
        Bump(counters_.page_hits);
        std::vector<ReadSegment> hit(1);
        hit[0].page = std::move(page).value();
        hit[0].length = length;
        return hit;
      }
      // Any failure of the page store (a bad dir, a corrupt page) is a miss: the under store
      // still has the bytes.
      if (page.status().code() != StatusCode::kNotFound) {
        spdlog::warn("page store lookup of {} page {} failed: {}", status.path, index,
                     page.status().ToString());
      }
      present = pages_.PresentChunks(id);
    }
    const auto runs = RunsToFetch(present, first, end);
    std::vector<std::shared_ptr<const PageBuffer>> buffers;
    bool stored_meanwhile = false;
    for (const auto& [run_first, run_end] : runs) {
      bool joined = false;
      auto fetched = flights_.Do(
          FlightKey(file_key, index, run_first, run_end, direct), options_.fetch_wait_bound,
          [&, run_first = run_first, run_end = run_end] {
            return FetchPage(status, file_key, index, run_first, run_end, !direct);
          },
          &joined);
      if (!fetched.ok()) return fetched.status();
      if (joined) Bump(counters_.single_flight_joins);
      if (*fetched == nullptr) {
        stored_meanwhile = true;  // by a fetch that just finished: look it up
        break;
      }
      buffers.push_back(*std::move(fetched));
    }
    if (stored_meanwhile) continue;
    Bump(counters_.page_misses);
    // The slice in order: fetched runs from their buffers, the chunks between from the page.
    std::vector<ReadSegment> segments;
    bool lost = false;
    for (std::uint64_t at = begin, stop = begin + length; at < stop && !lost;) {
      std::size_t r = 0;
      while (r < runs.size() && std::uint64_t{runs[r].second} * kChunk <= at) ++r;
      ReadSegment segment;
      if (r < runs.size() && std::uint64_t{runs[r].first} * kChunk <= at) {
        const std::uint64_t run_begin = std::uint64_t{runs[r].first} * kChunk;
        const std::uint64_t run_stop = std::min(std::uint64_t{runs[r].second} * kChunk, stop);
        segment.buffer = buffers[r];
        segment.buffer_offset = at - run_begin;
        segment.length = run_stop - at;
      } else {
        const std::uint64_t gap_stop =
            r < runs.size() ? std::min(std::uint64_t{runs[r].first} * kChunk, stop) : stop;
        auto page = pages_.Get(id, at, gap_stop - at);
        if (!page.ok()) {
          lost = true;  // evicted since we looked: plan the slice again
          break;
        }
        segment.page = std::move(page).value();
        segment.length = gap_stop - at;
      }
      at += segment.length;
      segments.push_back(std::move(segment));
    }
    if (!lost) return segments;
  }
  return Status::Internal("page " + std::to_string(index) + " of " + status.path +
                          " vanished from the page store on every lookup");
}

Result<std::shared_ptr<const PageBuffer>> ReadService::FetchPage(
    const FileStatus& status, const std::string& file_key, std::uint64_t index, std::uint32_t first,
    std::uint32_t end, bool check_cached) {
  const PageId id{file_key, index};
  const std::uint64_t page_start = index * page_size_;
  const std::uint64_t page_length = std::min(page_size_, status.size - page_start);
  const std::uint64_t run_begin = std::uint64_t{first} * kChunk;
  const std::uint64_t run_length = std::min(std::uint64_t{end} * kChunk, page_length) - run_begin;
  if (check_cached) {
    // A fetch that finished between our miss and taking the flight has stored them already.
    const std::vector<bool> present = pages_.PresentChunks(id);
    bool all = present.size() >= end;
    for (std::uint32_t c = first; c < end && all; ++c) all = present[c];
    if (all) return std::shared_ptr<const PageBuffer>();
  }

  // Reserved before the under store is asked, so a refused miss costs neither memory nor a
  // remote read.
  if (!miss_budget_->TryReserve(run_length)) {
    Bump(counters_.miss_budget_refusals);
    return WorkerBusy("in-flight miss bytes at the limit (" +
                      std::to_string(miss_budget_->limit()) + " bytes); page " +
                      std::to_string(index) + " of " + status.path + " not fetched");
  }
  auto holder = std::make_shared<BudgetedBuffer>(miss_budget_, run_length);
  // The plan sees only the bytes; the holder (and its reservation) lives as long as they do.
  std::shared_ptr<PageBuffer> buffer(holder, &holder->data);
  auto read =
      under_.ReadRange(status.path, status.version, page_start + run_begin, std::span(*buffer));
  Bump(counters_.under_store_reads);
  if (!read.ok()) {
    Bump(counters_.under_store_errors);
    if (read.status().code() == StatusCode::kChanged) OnChanged(status.path);
    return read.status().WithContext("reading page " + std::to_string(index) + " of " +
                                     status.path);
  }
  Bump(counters_.under_store_bytes, *read);
  if (*read < run_length) {
    // The file is shorter than its status said: it was replaced under us.
    OnChanged(status.path);
    return Status::Changed(status.path + " is shorter than its status (" +
                           std::to_string(status.size) + " bytes): it changed while being read");
  }
  Status put = pages_.PutChunks(id, page_length, run_begin, std::span<const std::byte>(*buffer));
  if (!put.ok() && put.code() != StatusCode::kRejected) {
    spdlog::warn("caching page {} of {} failed: {}", index, status.path, put.ToString());
  }
  return std::shared_ptr<const PageBuffer>(std::move(buffer));
}

Result<LoadResult> ReadService::Load(std::string_view path, std::uint64_t offset,
                                     std::uint64_t length) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  EC_ASSIGN_OR_RETURN(FileStatus status, StatForRead(path, ""));
  LoadResult out;
  out.status = status;
  const std::uint64_t end =
      offset >= status.size ? offset : offset + std::min(length, status.size - offset);
  out.bytes = end - offset;
  // Page by page, so that a large range holds one page of the miss budget at a time.
  for (std::uint64_t at = offset; at < end;) {
    const std::uint64_t page_end = std::min(end, (at / page_size_ + 1) * page_size_);
    auto plan = ReadVersion(status, at, page_end - at);
    if (!plan.ok()) {
      if (plan.status().code() == StatusCode::kChanged) ForgetStatus(path);
      return plan.status().WithContext("load");
    }
    for (const ReadSegment& segment : plan->segments) {
      if (!segment.is_page()) out.bytes_fetched += segment.length;
    }
    at = page_end;
  }
  Bump(counters_.loaded_bytes, out.bytes_fetched);
  return out;
}

Result<std::uint64_t> ReadService::Evict(std::string_view path) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  std::vector<FileStatus> versions;
  // Stale or fresh: the pages of whatever version the cache still serves must go.
  if (auto cached = metadata_.Lookup(path)) versions.push_back(std::move(cached->status));
  metadata_.Invalidate(path);
  auto current = under_.Stat(path);
  Bump(counters_.under_store_stats);
  if (current.ok()) {
    versions.push_back(*std::move(current));
  } else if (current.status().code() != StatusCode::kNotFound) {
    return current.status().WithContext("evict");
  }
  std::uint64_t dropped = 0;
  std::vector<std::string> keys;
  for (const auto& v : versions) {
    if (v.is_directory) continue;
    std::string key = MakeFileKey(v.path, v.version);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    dropped += pages_.EvictFile(key);
    keys.push_back(std::move(key));
  }
  Bump(counters_.evicted_pages, dropped);
  return dropped;
}

void ReadService::OnChanged(std::string_view path) {
  metadata_.Invalidate(path);
  Bump(counters_.version_changes);
}

}  // namespace epochcache::worker
