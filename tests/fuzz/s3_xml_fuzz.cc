// S3's XML answers: listings (both key encodings) and error documents, from untrusted bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "understore/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  for (const bool url_encoded : {false, true}) {
    auto page = epochcache::ParseListObjectsV2(xml, url_encoded);
    if (!page.ok()) continue;
    // Nothing parsed can be longer than what it was parsed from.
    for (const auto& object : page->objects) FUZZ_CHECK(object.key.size() <= size);
    for (const auto& prefix : page->common_prefixes) FUZZ_CHECK(prefix.size() <= size);
  }
  const auto error = epochcache::ParseS3Error(xml);
  FUZZ_CHECK(error.code.size() <= size && error.message.size() <= size);
  (void)epochcache::ParseIso8601(xml);
  (void)epochcache::StripQuotes(xml);
  return 0;
}
