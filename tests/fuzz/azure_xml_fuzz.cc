// The Blob service's XML answers: List Blobs pages (plain and Encoded="true" names) and error
// documents, from untrusted bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/http_date.h"
#include "fuzz_check.h"
#include "understore/azure_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto page = epochcache::ParseAzureListBlobs(xml);
  if (page.ok()) {
    // Nothing parsed can be longer than what it was parsed from.
    for (const auto& blob : page->blobs) FUZZ_CHECK(blob.name.size() <= size);
    for (const auto& prefix : page->prefixes) FUZZ_CHECK(prefix.size() <= size);
    FUZZ_CHECK(page->next_marker.size() <= size);
  }
  const auto error = epochcache::ParseAzureError(xml);
  FUZZ_CHECK(error.code.size() <= size && error.message.size() <= size);
  FUZZ_CHECK(error.message.find('\n') == std::string_view::npos);
  (void)epochcache::HttpDateNs(xml);
  return 0;
}
