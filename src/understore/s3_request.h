// Building S3 request URLs: bucket/key parsing, path-style or virtual-hosted addressing, and
// query strings already sorted and encoded the way SigV4 canonicalises them. (libcurl 7.88
// signs the query string as given, so an unsorted or differently encoded query would not match
// the signature the server computes.)
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct S3Location {
  std::string bucket;
  std::string key;  // may be empty (the bucket itself)
};

// "s3://bucket/a/b.parquet" → {bucket, "a/b.parquet"}. Also accepts "s3a://". InvalidArgument
// for anything else.
Result<S3Location> ParseS3Uri(std::string_view uri);

// "s3://bucket/key" (or "s3://bucket" for an empty key).
std::string S3Uri(const S3Location& loc);

class S3UrlBuilder {
 public:
  // `endpoint` like "http://127.0.0.1:9000" or "https://s3.us-east-1.amazonaws.com".
  S3UrlBuilder(std::string endpoint, bool path_style)
      : endpoint_(std::move(endpoint)), path_style_(path_style) {}

  // The URL for an object (or the bucket, for an empty key) with the given query parameters.
  // Parameters are sorted by name and encoded with AwsUriEncode; the key is encoded per path
  // segment.
  [[nodiscard]] std::string Url(
      const S3Location& loc,
      const std::vector<std::pair<std::string, std::string>>& query = {}) const;

 private:
  std::string endpoint_;
  bool path_style_;
};

// The canonical, sorted, encoded query string of `query` ("a=1&b=x%2Fy").
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace epochcache
