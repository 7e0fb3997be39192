// Page headers as read back from disk: any bytes are refused or decode to a header whose
// fields cannot steer a read out of bounds; and page file names parse back to what made them.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "pagestore/page_format.h"

namespace ps = epochcache::pagestore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  const std::size_t need = ps::RequiredHeaderBytes(bytes);
  auto header = ps::DecodeHeader(bytes);
  if (header.ok()) {
    FUZZ_CHECK(need > 0 && need <= size);
    FUZZ_CHECK(header->header_size % ps::kHeaderAlign == 0);
    FUZZ_CHECK(header->data_length <= header->page_size);
    FUZZ_CHECK(header->chunk_checksums.size() == ps::ChunkCount(header->data_length));
    FUZZ_CHECK(header->present.size() == header->chunk_checksums.size());
    FUZZ_CHECK(header->StoredBytes() <= header->data_length);
    FUZZ_CHECK(ps::IsValidFileKey(header->file_key));
  }

  // The same bytes as a page's data: its header (both versions) must decode back to the page.
  const epochcache::PageId id{"0123456789abcdef0123456789abcdef", size};
  if (size > 0) {
    for (const auto& encoded :
         {ps::EncodeHeader(id, size + 1, bytes), ps::EncodeHeaderV1(id, size + 1, bytes)}) {
      auto back = ps::DecodeHeader(encoded);
      FUZZ_CHECK(back.ok());
      FUZZ_CHECK(back->data_length == size && back->page_index == size);
      FUZZ_CHECK(back->StoredBytes() == size);
      for (std::size_t c = 0; c < back->chunk_checksums.size(); ++c) {
        const std::size_t begin = c * ps::kChunkSize;
        const std::size_t len = std::min<std::size_t>(ps::kChunkSize, size - begin);
        FUZZ_CHECK(back->chunk_checksums[c] == ps::ChunkChecksum(bytes.subspan(begin, len)));
      }
    }
  }
  // A partial page: the input's bits pick which chunks are present; they must come back.
  if (size > 0 && size <= 65536) {
    const std::uint64_t length = std::uint64_t{size} * 1024;
    const std::uint32_t chunks = ps::ChunkCount(length);
    std::vector<bool> present(chunks);
    std::vector<std::uint64_t> sums(chunks, 0);
    for (std::uint32_t c = 0; c < chunks; ++c) {
      present[c] = ((std::to_integer<unsigned>(bytes[c % size]) >> (c % 8)) & 1U) != 0;
      if (present[c]) sums[c] = c + 1;
    }
    auto partial = ps::DecodeHeader(ps::EncodeHeader(id, length, length, sums, present));
    FUZZ_CHECK(partial.ok());
    FUZZ_CHECK(partial->present == present && partial->chunk_checksums == sums);
  }

  epochcache::PageId parsed;
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  if (ps::ParsePageFileName(name, &parsed)) FUZZ_CHECK(ps::PageFileName(parsed) == name);
  return 0;
}
