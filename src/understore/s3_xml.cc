#include "understore/s3_xml.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <limits>
#include <pugixml.hpp>

#include "common/curl_http.h"

namespace epochcache {
namespace {

Result<std::string> Field(const pugi::xml_node& node, const char* name, bool url_encoded) {
  const std::string_view text = node.child(name).text().as_string();
  if (!url_encoded) return std::string(text);
  // S3's encoding-type=url is form encoding: '+' stands for a space, '%2B' for a plus.
  std::string spaced(text);
  std::replace(spaced.begin(), spaced.end(), '+', ' ');
  return PercentDecode(spaced);
}

}  // namespace

std::string StripQuotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

std::int64_t ParseIso8601(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return 0;
  std::int64_t nanos = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9' && digits < 9) {
      nanos = nanos * 10 + (*rest - '0');
      ++rest;
      ++digits;
    }
    while (digits++ < 9) nanos *= 10;
  }
  constexpr std::int64_t kNsPerSec = 1'000'000'000;
  const auto secs = static_cast<std::int64_t>(timegm(&tm));
  // Nanoseconds since 1970 end in 2262: a later (or negative) date is "unknown", not overflow.
  if (secs < 0 || secs > (std::numeric_limits<std::int64_t>::max() - nanos) / kNsPerSec) return 0;
  return secs * kNsPerSec + nanos;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view xml, bool url_encoded) {
  pugi::xml_document doc;
  const auto parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    return Status::InvalidArgument(fmt::format("malformed ListObjectsV2 XML at byte {}: {}",
                                               parsed.offset, parsed.description()));
  }
  const pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return Status::InvalidArgument("ListObjectsV2 answer has no ListBucketResult");
  S3ListPage page;
  page.truncated = root.child("IsTruncated").text().as_bool();
  page.next_continuation_token = root.child("NextContinuationToken").text().as_string();
  if (page.truncated && page.next_continuation_token.empty()) {
    return Status::InvalidArgument("truncated ListObjectsV2 page without NextContinuationToken");
  }
  for (const auto& node : root.children("Contents")) {
    S3Object obj;
    EC_ASSIGN_OR_RETURN(obj.key, Field(node, "Key", url_encoded));
    if (obj.key.empty()) return Status::InvalidArgument("ListObjectsV2 entry without a Key");
    const std::string_view size = node.child("Size").text().as_string();
    const auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), obj.size);
    if (ec != std::errc() || ptr != size.data() + size.size()) {
      return Status::InvalidArgument(fmt::format("bad Size '{}' for key {}", size, obj.key));
    }
    obj.etag = StripQuotes(node.child("ETag").text().as_string());
    obj.mtime_ns = ParseIso8601(node.child("LastModified").text().as_string());
    page.objects.push_back(std::move(obj));
  }
  for (const auto& node : root.children("CommonPrefixes")) {
    EC_ASSIGN_OR_RETURN(std::string prefix, Field(node, "Prefix", url_encoded));
    page.common_prefixes.push_back(std::move(prefix));
  }
  return page;
}

S3Error ParseS3Error(std::string_view xml) {
  S3Error err;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return err;
  const pugi::xml_node node = doc.child("Error");
  err.code = node.child("Code").text().as_string();
  err.message = node.child("Message").text().as_string();
  return err;
}

}  // namespace epochcache
