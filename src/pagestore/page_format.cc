#include "pagestore/page_format.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace epochcache::pagestore {
namespace {

constexpr std::size_t kOffVersion = 8;
constexpr std::size_t kOffHeaderSize = 12;
constexpr std::size_t kOffPageIndex = 16;
constexpr std::size_t kOffDataLength = 24;
constexpr std::size_t kOffPageSize = 32;
constexpr std::size_t kOffChunkSize = 40;
constexpr std::size_t kOffChunkCount = 44;
constexpr std::size_t kOffFileKey = 48;
constexpr std::uint32_t kMaxChunks = kMaxPageSize / kChunkSize;

template <typename T>
void PutLe(std::span<std::byte> out, std::size_t off, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  }
}

template <typename T>
T GetLe(std::span<const std::byte> in, std::size_t off) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(std::to_integer<std::uint8_t>(in[off + i])) << (8 * i);
  }
  return v;
}

std::size_t BitmapBytes(std::uint32_t chunk_count) {
  return 8 * ((std::size_t{chunk_count} + 63) / 64);
}

// The byte of the present bitmap (little-endian 64-bit words at `bitmap_at`) holding chunk c.
std::size_t BitmapByte(std::size_t bitmap_at, std::uint32_t c) {
  return bitmap_at + 8 * std::size_t{c / 64} + (c % 64) / 8;
}

// Header bytes covered by the header checksum, plus the checksum itself.
std::size_t UnpaddedSize(std::uint32_t version, std::uint32_t chunk_count) {
  const std::size_t bitmap = version == kFormatVersionAllPresent ? 0 : BitmapBytes(chunk_count);
  return kFixedHeaderSize + 8 * std::size_t{chunk_count} + bitmap + 8;
}

std::uint32_t PaddedSize(std::size_t raw) {
  return static_cast<std::uint32_t>((raw + kHeaderAlign - 1) / kHeaderAlign * kHeaderAlign);
}

std::vector<std::byte> EncodeFixed(std::uint32_t version, const PageId& id, std::uint64_t page_size,
                                   std::uint64_t data_length,
                                   std::span<const std::uint64_t> checksums) {
  const std::uint32_t chunks = ChunkCount(data_length);
  const std::uint32_t header_size = PaddedSize(UnpaddedSize(version, chunks));
  std::vector<std::byte> out(header_size, std::byte{0});
  std::span<std::byte> h(out);
  std::memcpy(h.data(), kPageMagic, sizeof(kPageMagic));
  PutLe<std::uint32_t>(h, kOffVersion, version);
  PutLe<std::uint32_t>(h, kOffHeaderSize, header_size);
  PutLe<std::uint64_t>(h, kOffPageIndex, id.index);
  PutLe<std::uint64_t>(h, kOffDataLength, data_length);
  PutLe<std::uint64_t>(h, kOffPageSize, page_size);
  PutLe<std::uint32_t>(h, kOffChunkSize, kChunkSize);
  PutLe<std::uint32_t>(h, kOffChunkCount, chunks);
  std::memcpy(h.data() + kOffFileKey, id.file_key.data(),
              std::min(id.file_key.size(), kFileKeyLength));
  for (std::uint32_t c = 0; c < chunks && c < checksums.size(); ++c) {
    PutLe<std::uint64_t>(h, kFixedHeaderSize + 8 * std::size_t{c}, checksums[c]);
  }
  return out;
}

void SealHeader(std::vector<std::byte>& out, std::uint32_t version, std::uint32_t chunks) {
  const std::size_t covered = UnpaddedSize(version, chunks) - 8;
  PutLe<std::uint64_t>(out, covered, XXH3_64bits(out.data(), covered));
}

std::vector<std::uint64_t> ChecksumsOf(std::span<const std::byte> data) {
  std::vector<std::uint64_t> sums(ChunkCount(data.size()));
  for (std::size_t c = 0; c < sums.size(); ++c) {
    const std::size_t begin = c * kChunkSize;
    sums[c] =
        ChunkChecksum(data.subspan(begin, std::min<std::size_t>(kChunkSize, data.size() - begin)));
  }
  return sums;
}

}  // namespace

std::uint64_t PageHeader::ChunkLength(std::uint32_t c) const {
  const std::uint64_t begin = std::uint64_t{c} * kChunkSize;
  return std::min<std::uint64_t>(kChunkSize, data_length - begin);
}

std::uint64_t PageHeader::StoredBytes() const {
  std::uint64_t bytes = 0;
  for (std::uint32_t c = 0; c < present.size(); ++c) {
    if (present[c]) bytes += ChunkLength(c);
  }
  return bytes;
}

std::uint64_t PageHeader::ChunkFileOffset(std::uint32_t c) const {
  // Every present chunk before c is full-sized: only the last chunk may be short.
  const auto before =
      static_cast<std::uint64_t>(std::count(present.begin(), present.begin() + c, true));
  return header_size + before * kChunkSize;
}

std::uint32_t ChunkCount(std::uint64_t data_length) {
  return static_cast<std::uint32_t>((data_length + kChunkSize - 1) / kChunkSize);
}

std::uint32_t HeaderSizeFor(std::uint64_t data_length) {
  return PaddedSize(UnpaddedSize(kFormatVersion, ChunkCount(data_length)));
}

std::uint64_t ChunkChecksum(std::span<const std::byte> chunk) {
  return XXH3_64bits(chunk.data(), chunk.size());
}

std::vector<std::byte> EncodeHeader(const PageId& id, std::uint64_t page_size,
                                    std::uint64_t data_length,
                                    std::span<const std::uint64_t> checksums,
                                    const std::vector<bool>& present) {
  const std::uint32_t chunks = ChunkCount(data_length);
  std::vector<std::byte> out = EncodeFixed(kFormatVersion, id, page_size, data_length, checksums);
  const std::size_t bitmap_at = kFixedHeaderSize + 8 * std::size_t{chunks};
  for (std::uint32_t c = 0; c < chunks && c < present.size(); ++c) {
    if (!present[c]) continue;
    const std::size_t byte = BitmapByte(bitmap_at, c);
    out[byte] |= static_cast<std::byte>(1U << (c % 8));
  }
  SealHeader(out, kFormatVersion, chunks);
  return out;
}

std::vector<std::byte> EncodeHeader(const PageId& id, std::uint64_t page_size,
                                    std::span<const std::byte> data) {
  const std::vector<std::uint64_t> sums = ChecksumsOf(data);
  return EncodeHeader(id, page_size, data.size(), sums, std::vector<bool>(sums.size(), true));
}

std::vector<std::byte> EncodeHeaderV1(const PageId& id, std::uint64_t page_size,
                                      std::span<const std::byte> data) {
  const std::vector<std::uint64_t> sums = ChecksumsOf(data);
  std::vector<std::byte> out =
      EncodeFixed(kFormatVersionAllPresent, id, page_size, data.size(), sums);
  SealHeader(out, kFormatVersionAllPresent, ChunkCount(data.size()));
  return out;
}

std::size_t RequiredHeaderBytes(std::span<const std::byte> prefix) {
  if (prefix.size() < kFixedHeaderSize ||
      std::memcmp(prefix.data(), kPageMagic, sizeof(kPageMagic)) != 0) {
    return 0;
  }
  const auto version = GetLe<std::uint32_t>(prefix, kOffVersion);
  const auto chunks = GetLe<std::uint32_t>(prefix, kOffChunkCount);
  if (chunks > kMaxChunks || (version != kFormatVersion && version != kFormatVersionAllPresent)) {
    return 0;
  }
  return UnpaddedSize(version, chunks);
}

Result<PageHeader> DecodeHeader(std::span<const std::byte> bytes) {
  if (bytes.size() >= kFixedHeaderSize) {
    const auto version = GetLe<std::uint32_t>(bytes, kOffVersion);
    if (version != kFormatVersion && version != kFormatVersionAllPresent) {
      return Status::ChecksumError("unsupported page format version " + std::to_string(version));
    }
  }
  const std::size_t need = RequiredHeaderBytes(bytes);
  if (need == 0) return Status::ChecksumError("not a page header (bad magic or size)");
  if (bytes.size() < need) return Status::ChecksumError("page header is truncated");
  const auto version = GetLe<std::uint32_t>(bytes, kOffVersion);
  const auto chunks = GetLe<std::uint32_t>(bytes, kOffChunkCount);
  const std::size_t covered = need - 8;
  if (XXH3_64bits(bytes.data(), covered) != GetLe<std::uint64_t>(bytes, covered)) {
    return Status::ChecksumError("page header checksum mismatch");
  }
  PageHeader h;
  h.header_size = GetLe<std::uint32_t>(bytes, kOffHeaderSize);
  h.page_index = GetLe<std::uint64_t>(bytes, kOffPageIndex);
  h.data_length = GetLe<std::uint64_t>(bytes, kOffDataLength);
  h.page_size = GetLe<std::uint64_t>(bytes, kOffPageSize);
  h.chunk_size = GetLe<std::uint32_t>(bytes, kOffChunkSize);
  h.file_key.resize(kFileKeyLength);
  std::memcpy(h.file_key.data(), bytes.data() + kOffFileKey, kFileKeyLength);
  // A checksummed header written by this code always satisfies these; checking them anyway
  // keeps a header from a future or foreign writer from steering reads out of bounds.
  if (h.chunk_size != kChunkSize || chunks != ChunkCount(h.data_length) ||
      h.header_size != PaddedSize(need) || h.data_length > h.page_size ||
      !IsValidFileKey(h.file_key)) {
    return Status::ChecksumError("page header fields are inconsistent");
  }
  h.chunk_checksums.resize(chunks);
  h.present.assign(chunks, true);
  const std::size_t bitmap_at = kFixedHeaderSize + 8 * std::size_t{chunks};
  for (std::uint32_t c = 0; c < chunks; ++c) {
    h.chunk_checksums[c] = GetLe<std::uint64_t>(bytes, kFixedHeaderSize + 8 * std::size_t{c});
    if (version == kFormatVersion) {
      const auto bits = std::to_integer<unsigned>(bytes[BitmapByte(bitmap_at, c)]);
      h.present[c] = ((bits >> (c % 8)) & 1U) != 0;
    }
  }
  if (version == kFormatVersion) {
    // Bits past the last chunk are zero in every header this code writes.
    for (std::uint32_t c = chunks; c < 64 * ((chunks + 63) / 64); ++c) {
      const auto bits = std::to_integer<unsigned>(bytes[BitmapByte(bitmap_at, c)]);
      if (((bits >> (c % 8)) & 1U) != 0) {
        return Status::ChecksumError("page header marks chunks past the data as present");
      }
    }
  }
  return h;
}

bool IsValidFileKey(std::string_view key) {
  return key.size() == kFileKeyLength && std::all_of(key.begin(), key.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string PrefixDirName(std::string_view file_key) { return std::string(file_key.substr(0, 2)); }

std::string PageFileName(const PageId& id) { return id.file_key + "." + std::to_string(id.index); }

bool ParsePageFileName(std::string_view name, PageId* id) {
  if (name.size() < kFileKeyLength + 2 || name[kFileKeyLength] != '.') return false;
  const std::string_view key = name.substr(0, kFileKeyLength);
  const std::string_view num = name.substr(kFileKeyLength + 1);
  if (!IsValidFileKey(key) || num.empty() || (num.size() > 1 && num[0] == '0')) return false;
  std::uint64_t index = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), index);
  if (ec != std::errc() || end != num.data() + num.size()) return false;
  id->file_key = std::string(key);
  id->index = index;
  return true;
}

}  // namespace epochcache::pagestore
