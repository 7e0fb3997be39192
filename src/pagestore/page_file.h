// Reading, writing and scanning page files: the store's only disk I/O, all of it through an
// Env (common/env.h) so tests can fail any call. No locks, no index; errors come back as Status
// codes the store turns into policy (drop the page, count a dir error, take a dir out of
// service).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/env.h"
#include "epochcache/page_store.h"
#include "epochcache/status.h"

namespace epochcache::pagestore {

// Writes `data` with its header to `temp_path`, then renames it to `final_path` (both in the
// same directory, so the rename is atomic: a reader or a restart sees the whole page or none
// of it); the prefix directory is created if missing. No fsync: a page torn by a crash fails its
// checksum and is refetched. On failure the temp file is removed and the Status (codes as
// ErrnoStatus in common/env.h) names the file and what failed.
Status WritePageFile(Env* env, const std::string& temp_path, const std::string& final_path,
                     const PageId& id, std::uint64_t page_size, std::span<const std::byte> data);

// Opens the page file at `path` and verifies its header (magic, version, checksum, identity
// `id`, `page_size`, file length) and the checksums of the 64 KiB chunks covering
// [offset, offset + length) of its data. Returns a handle on those bytes, or:
//   NotFound        — the file does not exist;
//   ChecksumError   — anything about the file is wrong (corrupt, truncated, foreign);
//   InvalidArgument — the range is outside the page's data;
//   IoError, PermissionDenied — the disk failed or refused (see ErrnoStatus).
Result<PageHandle> OpenVerifiedPage(Env* env, const std::string& path, const PageId& id,
                                    std::uint64_t page_size, std::uint64_t offset,
                                    std::uint64_t length);

// A valid page file found by ScanPrefixDir.
struct FoundPage {
  PageId id;
  std::uint64_t file_bytes = 0;
  std::int64_t mtime_ns = 0;
};

struct ScanResult {
  std::vector<FoundPage> pages;
  std::uint64_t discarded = 0;  // temp and invalid page files deleted
  std::uint64_t ignored = 0;    // files not named like pages: left alone
  Status status;                // not OK if the directory could not be read
};

// Scans one prefix directory ("<dir>/pages/ab") at start: deletes temp files and page files
// whose header is invalid or whose length disagrees with it, and returns the valid pages.
// Takes group and other bits off the dir and its page files (left by older versions).
// Reads only headers; data checksums are verified on read.
ScanResult ScanPrefixDir(Env* env, const std::string& prefix_path, std::uint64_t page_size);

}  // namespace epochcache::pagestore
