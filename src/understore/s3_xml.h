// Parsing of S3's XML answers (ListObjectsV2 pages and error documents), with pugixml.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct S3Object {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  // without quotes
  std::int64_t mtime_ns = 0;
};

struct S3ListPage {
  std::vector<S3Object> objects;
  std::vector<std::string> common_prefixes;  // "dir/sub/", with the trailing delimiter
  bool truncated = false;
  std::string next_continuation_token;
};

// Parses a ListBucketResult. With `url_encoded` (the request had encoding-type=url), keys and
// prefixes are percent-decoded. InvalidArgument on malformed XML or a missing element.
Result<S3ListPage> ParseListObjectsV2(std::string_view xml, bool url_encoded);

struct S3Error {
  std::string code;  // "NoSuchKey", "AccessDenied", "SlowDown", ... (empty if not parsed)
  std::string message;
};

// Parses an <Error> document; tolerates an empty or non-XML body (returns empty fields).
S3Error ParseS3Error(std::string_view xml);

// "2024-05-01T12:34:56.789Z" → nanoseconds since the epoch; 0 if it cannot be parsed.
std::int64_t ParseIso8601(std::string_view text);

// Removes the quotes S3 puts around ETags.
std::string StripQuotes(std::string_view etag);

}  // namespace epochcache
