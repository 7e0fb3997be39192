// Range headers: parsing never crashes, and a resolved span always lies within the file.
// The first 8 bytes of the input choose the file size, the rest is the header.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz_check.h"
#include "worker/http_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t file_size = 0;
  if (size >= sizeof(file_size)) {
    std::memcpy(&file_size, data, sizeof(file_size));
    data += sizeof(file_size);
    size -= sizeof(file_size);
  }
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  auto range = epochcache::worker::ParseRange(header);
  if (!range.ok()) return 0;
  using Kind = epochcache::worker::RangeSpec::Kind;
  if (range->kind == Kind::kFromTo) FUZZ_CHECK(range->first <= range->last);
  // Small sizes as well as the chosen one, so the clipping paths are all reached.
  for (const std::uint64_t n :
       {file_size, file_size % 4096, std::uint64_t{0}, std::uint64_t{1}, ~std::uint64_t{0}}) {
    const auto span = epochcache::worker::ResolveRange(*range, n);
    if (!span) continue;
    FUZZ_CHECK(span->length > 0);
    FUZZ_CHECK(span->offset < n);
    FUZZ_CHECK(span->length <= n - span->offset);
    if (range->kind != Kind::kSuffix) FUZZ_CHECK(span->offset == range->first);
    if (range->kind == Kind::kFromTo) FUZZ_CHECK(span->offset + span->length - 1 <= range->last);
    if (range->kind == Kind::kSuffix) FUZZ_CHECK(span->offset + span->length == n);
  }
  return 0;
}
