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
#include "pagestore/page_format.h"

namespace epochcache::pagestore {

// Writes `header` and then `data` (the present chunks, packed in chunk order) to `temp_path`,
// then renames it to `final_path` (both in the same directory, so the rename is atomic: a
// reader or a restart sees the old file or the whole new one, never a mix); the prefix
// directory is created if missing. No fsync: a page torn by a crash fails its checksum and is
// refetched. On failure the temp file is removed and the Status (codes as ErrnoStatus in
// common/env.h) names the file and what failed.
Status WritePageFile(Env* env, const std::string& temp_path, const std::string& final_path,
                     std::span<const std::byte> header,
                     std::span<const std::span<const std::byte>> data);

// The chunks of a page file that verify against their checksums, at their places in the
// page: `data` is data_length long, `present[c]` says whether chunk c was read and verified.
struct StoredChunks {
  PageHeader header;
  std::vector<std::byte> data;
  std::vector<bool> present;
};
// Reads every present chunk of the page file at `path` (header checked as ReadHeader does); a chunk
// whose checksum fails is left out, not an error. Used to merge a page's old chunks into a rewrite
// that adds new ones, and to check partial pages at start.
Result<StoredChunks> ReadStoredChunks(Env* env, const std::string& path, const PageId& id,
                                      std::uint64_t page_size);

// Reads and checks the header of the page file open as `fd`, `file_size` bytes long: magic,
// version, header checksum, identity `id`, `page_size`, and a file length that matches the
// chunks the header says are present. ChecksumError on any mismatch; IoError if the read failed.
Result<PageHeader> ReadHeader(Env* env, int fd, const PageId& id, std::uint64_t page_size,
                              std::uint64_t file_size);

// A valid page file found by ScanPrefixDir.
struct FoundPage {
  PageId id;
  std::uint64_t file_bytes = 0;
  std::uint64_t data_length = 0;
  std::vector<bool> present;  // chunks present (and, for a partial page, verified)
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
// Reads only headers of whole pages (data checksums are verified on read); a partial page's
// chunks are all read and only those that verify count as present, so a partial page torn by
// a crash yields its good chunks and is refilled for the rest.
ScanResult ScanPrefixDir(Env* env, const std::string& prefix_path, std::uint64_t page_size);

}  // namespace epochcache::pagestore
