#include "worker/read_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <span>
#include <utility>

namespace epochcache::worker {
namespace {

// How many times a slice is looked up again after a concurrent fetch reported the page as
// stored; past that (the page was evicted in between every time) it is fetched directly.
constexpr int kPageLookups = 3;

std::string FlightKey(const std::string& file_key, std::uint64_t index) {
  return file_key + ":" + std::to_string(index);
}

}  // namespace

ReadService::ReadService(UnderStore& under, PageStore& pages, ReadServiceOptions options)
    : under_(under),
      pages_(pages),
      options_(options),
      page_size_(pages.page_size()),
      metadata_(options.metadata_ttl) {}

Result<FileStatus> ReadService::Stat(std::string_view path) {
  if (auto cached = metadata_.Get(path)) {
    Bump(counters_.metadata_hits);
    return *std::move(cached);
  }
  Bump(counters_.metadata_misses);
  auto status = under_.Stat(path);
  if (status.ok()) metadata_.Put(path, *status);
  return status;
}

Result<std::vector<FileStatus>> ReadService::List(std::string_view path, bool recursive) {
  auto entries = under_.List(path, recursive);
  if (entries.ok()) {
    for (const auto& entry : *entries) {
      if (!entry.is_directory) metadata_.Put(entry.path, entry);
    }
  }
  return entries;
}

Result<FileStatus> ReadService::StatForRead(std::string_view path, std::string_view version) {
  EC_ASSIGN_OR_RETURN(FileStatus status, Stat(path));
  if (!version.empty() && status.version != version) {
    metadata_.Invalidate(path);
    EC_ASSIGN_OR_RETURN(status, Stat(path));
    if (status.version != version) {
      Bump(counters_.version_changes);
      return Status::Changed(std::string(path) + " now has version " + status.version +
                             ", not the requested " + std::string(version));
    }
  }
  if (status.is_directory) {
    return Status::InvalidArgument(std::string(path) + " is a directory, not a file");
  }
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
  if (status.is_directory) {
    return Status::InvalidArgument(status.path + " is a directory, not a file");
  }
  ReadPlan plan;
  plan.status = status;
  plan.offset = offset;
  if (offset >= status.size || length == 0) return plan;
  const std::uint64_t end = offset + std::min(length, status.size - offset);
  plan.length = end - offset;

  const std::string file_key = MakeFileKey(status.path, status.version);
  for (std::uint64_t index = offset / page_size_; index * page_size_ < end; ++index) {
    const std::uint64_t page_start = index * page_size_;
    const std::uint64_t begin = std::max(offset, page_start) - page_start;
    const std::uint64_t stop = std::min(end, page_start + page_size_) - page_start;
    EC_ASSIGN_OR_RETURN(ReadSegment segment,
                        ReadPageSlice(status, file_key, index, begin, stop - begin));
    plan.segments.push_back(std::move(segment));
  }
  return plan;
}

Result<ReadSegment> ReadService::ReadPageSlice(const FileStatus& status,
                                               const std::string& file_key, std::uint64_t index,
                                               std::uint64_t begin, std::uint64_t length) {
  const PageId id{file_key, index};
  for (int attempt = 0; attempt <= kPageLookups; ++attempt) {
    if (attempt < kPageLookups) {
      auto page = pages_.Get(id, begin, length);
      if (page.ok()) {
        Bump(counters_.page_hits);
        ReadSegment segment;
        segment.page = std::move(page).value();
        segment.length = length;
        return segment;
      }
      // Any failure of the page store (a bad dir, a corrupt page) is a miss: the under store
      // still has the bytes.
      if (page.status().code() != StatusCode::kNotFound) {
        spdlog::warn("page store lookup of {} page {} failed: {}", status.path, index,
                     page.status().ToString());
      }
    }
    bool joined = false;
    auto fetched = flights_.Do(
        FlightKey(file_key, index), options_.fetch_wait_bound,
        [&] { return FetchPage(status, file_key, index); }, &joined);
    if (!fetched.ok()) return fetched.status();
    if (joined) Bump(counters_.single_flight_joins);
    if (*fetched == nullptr) continue;  // stored by a fetch that just finished: look it up
    Bump(counters_.page_misses);
    ReadSegment segment;
    segment.buffer = *std::move(fetched);
    segment.buffer_offset = begin;
    segment.length = length;
    return segment;
  }
  return Status::Internal("page " + std::to_string(index) + " of " + status.path +
                          " vanished from the page store on every lookup");
}

Result<std::shared_ptr<const PageBuffer>> ReadService::FetchPage(const FileStatus& status,
                                                                 const std::string& file_key,
                                                                 std::uint64_t index) {
  const PageId id{file_key, index};
  const std::uint64_t page_start = index * page_size_;
  const std::uint64_t page_length = std::min(page_size_, status.size - page_start);
  // A fetch that finished between our miss and taking the flight has stored the page already.
  // Asking for one byte verifies one chunk, not the whole page: this only checks presence.
  if (pages_.Get(id, 0, 1).ok()) return std::shared_ptr<const PageBuffer>();

  auto buffer = std::make_shared<PageBuffer>(page_length);
  auto read = under_.ReadRange(status.path, status.version, page_start, std::span(*buffer));
  Bump(counters_.under_store_reads);
  if (!read.ok()) {
    Bump(counters_.under_store_errors);
    if (read.status().code() == StatusCode::kChanged) OnChanged(status.path);
    return read.status().WithContext("reading page " + std::to_string(index) + " of " +
                                     status.path);
  }
  Bump(counters_.under_store_bytes, *read);
  if (*read < page_length) {
    // The file is shorter than its status said: it was replaced under us.
    OnChanged(status.path);
    return Status::Changed(status.path + " is shorter than its status (" +
                           std::to_string(status.size) + " bytes): it changed while being read");
  }
  Status put = pages_.Put(id, std::span<const std::byte>(*buffer));
  if (!put.ok() && put.code() != StatusCode::kRejected) {
    spdlog::warn("caching page {} of {} failed: {}", index, status.path, put.ToString());
  }
  return std::shared_ptr<const PageBuffer>(std::move(buffer));
}

void ReadService::OnChanged(std::string_view path) {
  metadata_.Invalidate(path);
  Bump(counters_.version_changes);
}

}  // namespace epochcache::worker
