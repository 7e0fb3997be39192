// Parsing of the Blob service's XML answers (List Blobs pages and error documents), with
// pugixml.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct AzureBlob {
  std::string name;
  std::uint64_t size = 0;
  std::string etag;  // without quotes
  std::int64_t mtime_ns = 0;
};

struct AzureListPage {
  std::vector<AzureBlob> blobs;
  std::vector<std::string> prefixes;  // "dir/sub/", with the trailing delimiter
  std::string next_marker;            // empty on the last page
};

// Parses an EnumerationResults document. Names marked Encoded="true" (Azure percent-encodes
// names that XML 1.0 cannot carry) are decoded. InvalidArgument on malformed XML, a missing
// element or a size that is not a number.
Result<AzureListPage> ParseAzureListBlobs(std::string_view xml);

struct AzureError {
  std::string code;     // "AuthenticationFailed", "BlobNotFound", ... (empty if not parsed)
  std::string message;  // its first line only (the rest is request ids and diagnostics)
};

// Parses an <Error> document; tolerates an empty or non-XML body (returns empty fields).
AzureError ParseAzureError(std::string_view xml);

}  // namespace epochcache
