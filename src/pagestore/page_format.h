// The on-disk format of one page file (documented byte by byte in docs/page-store.md).
//
// A page file is a header followed by the page's data. The header is padded to a multiple of
// 4 KiB so the data starts block-aligned (a full 1 MiB page costs no extra disk blocks), and
// carries one XXH3-64 checksum per 64 KiB chunk of data, so a small range read verifies only
// the chunks it covers. All integers are little-endian.
//
// Version 2 adds a bitmap of the chunks present: a page may hold only some of its chunks (a
// cold read fetched only what it needed). The present chunks are stored packed, in chunk
// order, after the header, so a run of present chunks is contiguous in the file and can be
// sent with one sendfile(2). A version 1 page is a version 2 page with every chunk present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/page_store.h"
#include "epochcache/status.h"

namespace epochcache::pagestore {

inline constexpr char kPageMagic[8] = {'E', 'C', 'P', 'A', 'G', 'E', '\0', '\0'};
inline constexpr std::uint32_t kFormatVersion = 2;            // written
inline constexpr std::uint32_t kFormatVersionAllPresent = 1;  // still read
inline constexpr std::uint32_t kChunkSize = PageStore::kChunkSize;
inline constexpr std::uint64_t kHeaderAlign = 4096;
// Offsets of the fixed header fields.
inline constexpr std::size_t kFixedHeaderSize = 80;  // up to the first chunk checksum
inline constexpr std::size_t kFileKeyLength = 32;
// Page sizes above this are refused at Open: the header would grow past reason.
inline constexpr std::uint64_t kMaxPageSize = std::uint64_t{1} << 30;

struct PageHeader {
  std::uint32_t header_size = 0;  // bytes before the data; a multiple of kHeaderAlign
  std::uint64_t page_index = 0;
  std::uint64_t data_length = 0;
  std::uint64_t page_size = 0;  // the store's page size when written
  std::uint32_t chunk_size = kChunkSize;
  std::string file_key;
  std::vector<std::uint64_t> chunk_checksums;  // one per chunk of data; 0 for absent chunks
  std::vector<bool> present;                   // one per chunk: stored in this file

  // Bytes of data stored in the file: the sum of the present chunks' lengths.
  [[nodiscard]] std::uint64_t StoredBytes() const;
  // Where chunk `c` starts in the file (REQUIRES: present[c]): present chunks are packed.
  [[nodiscard]] std::uint64_t ChunkFileOffset(std::uint32_t c) const;
  // Length of chunk `c` (only the last chunk may be shorter than kChunkSize).
  [[nodiscard]] std::uint64_t ChunkLength(std::uint32_t c) const;
};

// Number of kChunkSize chunks covering `data_length` bytes.
std::uint32_t ChunkCount(std::uint64_t data_length);
// Header size (padded, version 2) for a page of `data_length` bytes.
std::uint32_t HeaderSizeFor(std::uint64_t data_length);
// Version 2 header bytes (header_size long) for a page of `data_length` bytes of which the
// chunks marked in `present` are stored; `checksums` has one entry per chunk (absent: 0).
std::vector<std::byte> EncodeHeader(const PageId& id, std::uint64_t page_size,
                                    std::uint64_t data_length,
                                    std::span<const std::uint64_t> checksums,
                                    const std::vector<bool>& present);
// The version 2 header for a whole page `data` (every chunk present).
std::vector<std::byte> EncodeHeader(const PageId& id, std::uint64_t page_size,
                                    std::span<const std::byte> data);
// The version 1 header for a whole page `data`, as older builds wrote it (for tests and
// compatibility checks: this build never writes version 1).
std::vector<std::byte> EncodeHeaderV1(const PageId& id, std::uint64_t page_size,
                                      std::span<const std::byte> data);
// Parses and checks a header: magic, version, field sanity, header checksum. `bytes` must
// hold at least the unpadded header (RequiredHeaderBytes of its prefix). ChecksumError on
// any mismatch.
Result<PageHeader> DecodeHeader(std::span<const std::byte> bytes);
// How many leading bytes DecodeHeader needs, judged from the first kFixedHeaderSize bytes;
// 0 when those are not a page header at all.
std::size_t RequiredHeaderBytes(std::span<const std::byte> prefix);

std::uint64_t ChunkChecksum(std::span<const std::byte> chunk);

// True for 32 lowercase hex chars.
bool IsValidFileKey(std::string_view key);

// "pages/ab/<file_key>.<index>" relative to a cache dir; the prefix dir is the key's first
// two hex chars, so a dir holds at most 1/256 of the pages.
inline constexpr std::string_view kPagesDir = "pages";
std::string PrefixDirName(std::string_view file_key);
std::string PageFileName(const PageId& id);
// Parses a page file name back into its id; false for anything else.
bool ParsePageFileName(std::string_view name, PageId* id);
inline constexpr std::string_view kTempSuffix = ".tmp";

}  // namespace epochcache::pagestore
