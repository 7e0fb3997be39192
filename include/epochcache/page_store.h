// The page store: fixed-size pages of remote files, kept in local cache directories.
//
// A page is identified by the file's cache key (which includes the remote object's version,
// so a changed object never matches old pages) and the page's index in the file. Pages are
// written to a temporary name and renamed into place, carry checksums verified when read (and
// re-verified at least every PageStoreOptions::verify_interval, or at once if the file was
// written to), and are found again by scanning the cache directories at start, so the cache
// survives restarts and `kill -9`. The on-disk format is documented in docs/page-store.md.
//
// Thread-safety: a PageStore is safe to use from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

class Env;    // src/common/env.h
class Clock;  // src/common/clock.h

struct PageId {
  std::string file_key;  // 32 lowercase hex chars: see MakeFileKey
  std::uint64_t index = 0;

  bool operator==(const PageId&) const = default;
};

// The cache identity of a remote file: a 128-bit hash of its path and version, as hex.
std::string MakeFileKey(std::string_view path, std::string_view version);

struct CacheDirOptions {
  std::string path;
  std::uint64_t capacity_bytes = 0;  // counts page files, headers included
};

// How a full cache decides what to keep. docs/page-store.md explains both.
enum class EvictionPolicy : std::uint8_t {
  // Plain least-recently-used: every miss is admitted and evicts the oldest page. Thrashes
  // when a cyclic scan (a training epoch) is larger than the cache.
  kLru,
  // LRU order plus frequency-based admission: once a dir is full, a page is admitted only if
  // it was seen more often than the page it would evict, so a stable subset of a too-large
  // dataset stays cached across epochs.
  kScanResistant,
};

// "lru" / "scan-resistant".
std::string_view EvictionPolicyName(EvictionPolicy policy);
// Inverse of EvictionPolicyName; InvalidArgument names the bad value.
Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name);

struct PageStoreOptions {
  std::vector<CacheDirOptions> dirs;
  std::uint64_t page_size = 1 << 20;
  EvictionPolicy eviction_policy = EvictionPolicy::kScanResistant;
  // The file system the store works through; null means Env::Default(), the real one. Tests
  // pass a wrapper that fails chosen calls. Not owned; must outlive the store.
  Env* env = nullptr;
  // Time for verify_interval; null means Clock::Real(). Not owned; must outlive the store.
  Clock* clock = nullptr;
  // A chunk's checksum is verified when it is first read from a page file the store holds
  // open, and again once this long has passed; a file written to since it was opened (its
  // size, mtime or ctime moved) is verified afresh. Zero verifies on every read.
  std::chrono::nanoseconds verify_interval = std::chrono::seconds(60);
  // How many page files the store keeps open between reads (each holds one descriptor); the
  // least recently read is closed first. Zero opens the file for every read.
  std::size_t max_open_pages = 1024;
};

// A verified page (or part of one), held open for reading. Holding the descriptor keeps the
// bytes readable even if the page is evicted meanwhile (the file is unlinked, not truncated),
// so a sender can sendfile(2) from it without racing eviction. Read it only at explicit
// offsets (pread, sendfile with an offset): the descriptor may be shared with other handles.
class PageHandle {
 public:
  PageHandle() = default;
  // Owns `fd` and closes it.
  PageHandle(int fd, std::uint64_t file_offset, std::uint64_t length)
      : fd_(fd), file_offset_(file_offset), length_(length) {}
  // Borrows `fd`, which `owner` keeps open for as long as any handle holds it.
  PageHandle(std::shared_ptr<const void> owner, int fd, std::uint64_t file_offset,
             std::uint64_t length)
      : owner_(std::move(owner)), fd_(fd), file_offset_(file_offset), length_(length) {}
  PageHandle(PageHandle&& other) noexcept;
  PageHandle& operator=(PageHandle&& other) noexcept;
  PageHandle(const PageHandle&) = delete;
  PageHandle& operator=(const PageHandle&) = delete;
  ~PageHandle();

  [[nodiscard]] int fd() const { return fd_; }
  // Where the requested bytes start inside the page file, and how many there are.
  [[nodiscard]] std::uint64_t file_offset() const { return file_offset_; }
  [[nodiscard]] std::uint64_t length() const { return length_; }

 private:
  std::shared_ptr<const void> owner_;  // null: fd_ is ours to close
  int fd_ = -1;
  std::uint64_t file_offset_ = 0;
  std::uint64_t length_ = 0;
};

struct CacheDirStats {
  std::string path;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t pages = 0;
  std::uint64_t errors = 0;  // I/O errors seen in this dir
  bool healthy = true;       // false once taken out of service after errors
};

struct PageStoreStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;
  std::uint64_t rejected_puts = 0;
  std::uint64_t evictions = 0;
  std::uint64_t checksum_failures = 0;
  std::uint64_t dir_errors = 0;
  std::uint64_t chunks_filled = 0;    // chunks written into pages (whole pages count all theirs)
  std::uint64_t verified_bytes = 0;   // bytes read back from page files to verify checksums
  std::uint64_t open_pages = 0;       // page files held open between reads
  std::uint64_t recovered_pages = 0;  // found on disk at start
  std::uint64_t discarded_files = 0;  // temp or invalid files removed at start
  double recovery_seconds = 0;
  std::vector<CacheDirStats> dirs;
};

class PageStore {
 public:
  virtual ~PageStore() = default;

  // Opens (creating if needed) the cache dirs and rebuilds the index from what is on disk.
  static Result<std::unique_ptr<PageStore>> Open(const PageStoreOptions& options);

  // Pages are checksummed, and may be cached partially, in chunks of this many bytes (the
  // last chunk of a page may be shorter).
  static constexpr std::uint64_t kChunkSize = std::uint64_t{64} * 1024;

  [[nodiscard]] virtual std::uint64_t page_size() const = 0;

  // The bytes [offset, offset + length) of a cached page, verified against their checksums.
  // NotFound on a miss, including a page that lacks a chunk of the range. A page that fails
  // verification is removed, counted, and reported as NotFound, so the caller refetches it; wrong
  // bytes are never returned. REQUIRES: offset + length <= the page's data length (InvalidArgument
  // otherwise; the page stays cached).
  virtual Result<PageHandle> Get(const PageId& id, std::uint64_t offset, std::uint64_t length) = 0;

  // Admits a page (data.size() <= page_size(); only a file's last page may be shorter).
  // OK if the page is now cached (or already was, or is being written by another caller).
  // Rejected when the policy or capacity declines it (including a full disk); IoError when a
  // cache dir failed to write it. Either way the caller just serves the bytes uncached.
  virtual Status Put(const PageId& id, std::span<const std::byte> data) = 0;

  // Which chunks of page `id` are cached (element c: chunk c present), as the index knows it;
  // empty when none are. A later Get of present chunks can still miss (eviction, a failed
  // checksum). The default, for stores without partial pages, reports none.
  virtual std::vector<bool> PresentChunks(const PageId& id) {
    (void)id;
    return {};
  }

  // Adds the chunks [offset, offset + data.size()) to page `id`, whose data is `data_length`
  // bytes in all (a file's last page may be shorter than page_size()), keeping the chunks it
  // already has. `offset` is a multiple of kChunkSize, and the range ends on a chunk boundary
  // or at data_length. The first chunks of a page go through admission as Put does; later
  // chunks grow the resident page (evicting others if the dir is full). Result codes as Put.
  // The default, for stores without partial pages, takes only whole pages.
  virtual Status PutChunks(const PageId& id, std::uint64_t data_length, std::uint64_t offset,
                           std::span<const std::byte> data) {
    if (offset == 0 && data.size() == data_length) return Put(id, data);
    return Status::Rejected("this page store caches whole pages only");
  }

  // Drops every page of the file `file_key` (see MakeFileKey): readers holding a PageHandle
  // keep their bytes, later Gets miss, pages being written are deleted by their writer.
  // Returns how many pages were dropped (0 when none were cached). Not counted as evictions
  // (those are the policy's).
  virtual std::uint64_t EvictFile(std::string_view file_key) = 0;

  [[nodiscard]] virtual PageStoreStats Stats() const = 0;
};

}  // namespace epochcache
