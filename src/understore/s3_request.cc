#include "understore/s3_request.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/curl_http.h"

namespace epochcache {

Result<S3Location> ParseS3Uri(std::string_view uri) {
  std::string_view rest = uri;
  if (rest.starts_with("s3://")) {
    rest.remove_prefix(5);
  } else if (rest.starts_with("s3a://")) {
    rest.remove_prefix(6);
  } else {
    return Status::InvalidArgument(fmt::format("'{}' is not an s3:// URI", uri));
  }
  const auto slash = rest.find('/');
  S3Location loc;
  loc.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) loc.key = std::string(rest.substr(slash + 1));
  if (loc.bucket.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' names no bucket", uri));
  }
  return loc;
}

std::string S3Uri(const S3Location& loc) {
  return loc.key.empty() ? "s3://" + loc.bucket : "s3://" + loc.bucket + "/" + loc.key;
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(AwsUriEncode(name, false), AwsUriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string S3UrlBuilder::Url(const S3Location& loc,
                              const std::vector<std::pair<std::string, std::string>>& query) const {
  std::string url;
  const std::string key = AwsUriEncode(loc.key, true);
  if (path_style_) {
    url = fmt::format("{}/{}/{}", endpoint_, loc.bucket, key);
  } else {
    const auto scheme_end = endpoint_.find("://");
    const std::string scheme = endpoint_.substr(0, scheme_end + 3);
    const std::string host = endpoint_.substr(scheme_end + 3);
    url = fmt::format("{}{}.{}/{}", scheme, loc.bucket, host, key);
  }
  if (!query.empty()) {
    url += '?';
    url += CanonicalQuery(query);
  }
  return url;
}

}  // namespace epochcache
