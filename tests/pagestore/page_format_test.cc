#include "pagestore/page_format.h"

#include <gtest/gtest.h>

#include <vector>

namespace epochcache::pagestore {
namespace {

std::vector<std::byte> Bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return out;
}

const PageId kId{"0123456789abcdef0123456789abcdef", 7};

TEST(PageFormatTest, HeaderRoundTrip) {
  const auto data = Bytes(200'000, 3);
  const auto header = EncodeHeader(kId, 1 << 20, data);
  ASSERT_EQ(header.size(), 4096U);
  ASSERT_EQ(RequiredHeaderBytes(header), 80U + 4 * 8 + 8 + 8);  // checksums, bitmap, own sum
  auto decoded = DecodeHeader(header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->file_key, kId.file_key);
  EXPECT_EQ(decoded->page_index, 7U);
  EXPECT_EQ(decoded->data_length, 200'000U);
  EXPECT_EQ(decoded->page_size, 1U << 20);
  EXPECT_EQ(decoded->header_size, 4096U);
  ASSERT_EQ(decoded->chunk_checksums.size(), 4U);
  EXPECT_EQ(decoded->chunk_checksums[3],
            ChunkChecksum(std::span<const std::byte>(data).subspan(std::size_t{3} * kChunkSize)));
  EXPECT_EQ(decoded->present, std::vector<bool>(4, true));
  EXPECT_EQ(decoded->StoredBytes(), 200'000U);
}

TEST(PageFormatTest, PartialHeaderRecordsThePresentChunksPacked) {
  const std::vector<std::uint64_t> sums = {0, 11, 0, 33, 44};
  const std::vector<bool> present = {false, true, false, true, true};
  const std::uint64_t length = 4 * kChunkSize + 10;
  const auto header = EncodeHeader(kId, 1 << 20, length, sums, present);
  auto decoded = DecodeHeader(header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->present, present);
  EXPECT_EQ(decoded->chunk_checksums, sums);
  EXPECT_EQ(decoded->StoredBytes(), 2 * kChunkSize + 10);
  EXPECT_EQ(decoded->ChunkFileOffset(1), 4096U);
  EXPECT_EQ(decoded->ChunkFileOffset(3), 4096U + kChunkSize);
  EXPECT_EQ(decoded->ChunkFileOffset(4), 4096U + 2 * kChunkSize);
  EXPECT_EQ(decoded->ChunkLength(4), 10U);
}

TEST(PageFormatTest, VersionOneHeadersStillDecodeAsWholePages) {
  const auto data = Bytes(std::size_t{3} * kChunkSize, 5);
  const auto header = EncodeHeaderV1(kId, 1 << 20, data);
  ASSERT_EQ(RequiredHeaderBytes(header), 80U + 3 * 8 + 8);
  auto decoded = DecodeHeader(header);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->present, std::vector<bool>(3, true));
  EXPECT_EQ(decoded->header_size, 4096U);
  EXPECT_EQ(decoded->chunk_checksums,
            DecodeHeader(EncodeHeader(kId, 1 << 20, data))->chunk_checksums);
}

TEST(PageFormatTest, UnknownVersionIsRefused) {
  auto header = EncodeHeader(kId, 1 << 20, Bytes(1000, 1));
  header[8] = std::byte{3};
  auto decoded = DecodeHeader(header);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("version 3"), std::string::npos)
      << decoded.status().message();
}

TEST(PageFormatTest, AnyFlippedHeaderByteIsDetected) {
  const auto header = EncodeHeader(kId, 1 << 20, Bytes(1000, 1));
  const std::size_t used = RequiredHeaderBytes(header);
  for (std::size_t i = 0; i < used; ++i) {
    auto bad = header;
    bad[i] ^= std::byte{0x10};
    EXPECT_FALSE(DecodeHeader(bad).ok()) << "byte " << i;
  }
  EXPECT_FALSE(DecodeHeader(std::span(header).first(used - 1)).ok());
}

TEST(PageFormatTest, FileNames) {
  EXPECT_EQ(PageFileName(kId), "0123456789abcdef0123456789abcdef.7");
  EXPECT_EQ(PrefixDirName(kId.file_key), "01");
  PageId parsed;
  ASSERT_TRUE(ParsePageFileName("0123456789abcdef0123456789abcdef.7", &parsed));
  EXPECT_EQ(parsed, kId);
  EXPECT_FALSE(ParsePageFileName("0123456789abcdef0123456789abcdef.07", &parsed));
  EXPECT_FALSE(ParsePageFileName("0123456789abcdef0123456789abcdef.7.1.tmp", &parsed));
  EXPECT_FALSE(ParsePageFileName("0123456789ABCDEF0123456789abcdef.7", &parsed));
  EXPECT_FALSE(ParsePageFileName("notes.txt", &parsed));
}

}  // namespace
}  // namespace epochcache::pagestore
