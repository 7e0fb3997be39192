#include "understore/s3_under_store.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/http_date.h"
#include "common/path_rules.h"
#include "understore/list_paging.h"
#include "understore/remote_errors.h"
#include "understore/retrying_http.h"
#include "understore/s3_xml.h"

namespace epochcache {
namespace {

// SigV4 needs the payload hash; a GET or HEAD has an empty payload.
constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string TrimTrailingSlashes(std::string key) {
  while (!key.empty() && key.back() == '/') key.pop_back();
  return key;
}

// S3 answers at most this many keys per ListObjectsV2 request. Pages ask for that many
// whatever their limit: a request costs the same, and MinIO (the build in tools/bin) answers
// some start-after inside a nested prefix with a small max-keys by an empty, untruncated page.
constexpr std::size_t kMaxKeys = 1000;

void SortByPath(std::vector<FileStatus>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const FileStatus& a, const FileStatus& b) { return a.path < b.path; });
}

// Moves to the next continuation token, refusing one that would list the same page again.
Status NextToken(S3ListPage& got, const std::string& uri, std::string& token) {
  if (got.truncated && got.next_continuation_token == token) {
    return Status::IoError(uri + ": the listing repeats its continuation token");
  }
  token = std::move(got.next_continuation_token);
  return Status::Ok();
}

// S3's start-after for a page of `dir` after `start_after` (which LocateStart does not place
// after every entry): keys and paths sort alike below the directory.
std::string S3StartAfter(const ListedDirectory& dir, std::string_view start_after) {
  const StartPoint start = LocateStart(dir.base, start_after);
  return start.kind == StartPoint::kAfter ? dir.prefix + std::string(start.rest) : std::string();
}

std::string Header(const HttpResponse& r, const std::string& name) { return HeaderValue(r, name); }

}  // namespace

S3UnderStore::S3UnderStore(S3Location root, AwsCredentials credentials, std::string endpoint,
                           bool path_style, const UnderStoreOptions& options)
    : root_(std::move(root)),
      credentials_(std::move(credentials)),
      endpoint_(endpoint),
      urls_(std::move(endpoint), path_style),
      options_(options) {}

Result<std::unique_ptr<S3UnderStore>> S3UnderStore::Open(std::string_view root_uri,
                                                         const UnderStoreOptions& options) {
  EC_ASSIGN_OR_RETURN(S3Location root, ParseS3Uri(root_uri));
  root.key = TrimTrailingSlashes(root.key);
  EC_ASSIGN_OR_RETURN(AwsCredentials creds, ResolveAwsCredentials(options.s3));
  std::string endpoint = options.s3.endpoint_url;
  if (endpoint.empty()) endpoint = fmt::format("https://s3.{}.amazonaws.com", creds.region);
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Status::InvalidArgument(
        fmt::format("S3 endpoint '{}' must start with http:// or https://",
                    RedactUserinfo(options.s3.endpoint_url)));
  }
  while (endpoint.ends_with('/')) endpoint.pop_back();
  bool path_style = false;
  if (options.s3.addressing == "path") {
    path_style = true;
  } else if (options.s3.addressing == "auto") {
    // Custom endpoints rarely have wildcard DNS for buckets; dotted buckets break TLS names.
    path_style = !options.s3.endpoint_url.empty() || root.bucket.find('.') != std::string::npos;
  } else if (options.s3.addressing != "virtual") {
    return Status::InvalidArgument(
        fmt::format("S3 addressing '{}' is not one of auto, path, virtual", options.s3.addressing));
  }
  return std::unique_ptr<S3UnderStore>(new S3UnderStore(std::move(root), std::move(creds),
                                                        std::move(endpoint), path_style, options));
}

Result<S3Location> S3UnderStore::Resolve(std::string_view path) const {
  // The key is sent as checked (each byte percent-encoded except '/', never dot-collapsed), so
  // a key that passes CheckUnderPath and lies under the root's prefix is the object fetched.
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  EC_ASSIGN_OR_RETURN(S3Location loc, ParseS3Uri(path));
  const bool inside = loc.bucket == root_.bucket &&
                      (root_.key.empty() || TrimTrailingSlashes(loc.key) == root_.key ||
                       loc.key.starts_with(root_.key + "/"));
  if (!inside) {
    return Status::PermissionDenied(
        fmt::format("{} is outside the under-store root {}", path, S3Uri(root_)));
  }
  return loc;
}

Result<HttpResponse> S3UnderStore::Execute(HttpRequest request, const std::string& uri) {
  request.headers.push_back(fmt::format("x-amz-content-sha256: {}", kEmptyPayloadSha256));
  if (!credentials_.anonymous()) {
    request.aws_sigv4 = fmt::format("aws:amz:{}:s3", credentials_.region);
    request.aws_credentials = credentials_.access_key_id + ":" + credentials_.secret_access_key;
    if (!credentials_.session_token.empty()) {
      request.headers.push_back("x-amz-security-token: " + credentials_.session_token);
    }
  }
  return PerformWithRetries(
      http_, request, options_, uri,
      [&](const HttpResponse& response) { return ErrorStatus(response, uri); }, &retries_);
}

Status S3UnderStore::ErrorStatus(const HttpResponse& response, const std::string& uri) const {
  return WithoutSecrets(DescribeError(response, uri),
                        {credentials_.secret_access_key, credentials_.session_token});
}

Status S3UnderStore::DescribeError(const HttpResponse& response, const std::string& uri) const {
  const S3Error err = ParseS3Error(response.body);
  const std::string detail =
      err.code.empty() ? fmt::format("HTTP {}", response.status)
                       : fmt::format("HTTP {} {}: {}", response.status, err.code, err.message);
  if (response.status == 404 && err.code == "NoSuchBucket") {
    return Status::NotFound(fmt::format("{}: bucket {} does not exist", uri, root_.bucket));
  }
  // A redirect is never followed: the request was signed for this host, and a redirect's body
  // is not the object. S3 redirects when the bucket lives in another region.
  const std::string region = Header(response, "x-amz-bucket-region");
  const std::string endpoint = RedactUserinfo(endpoint_);
  const std::string credentials = fmt::format("{} credentials", credentials_.source);
  const std::string hint =
      region.empty() ? std::string()
                     : fmt::format(": the bucket is in region {}, set the region to it", region);
  return RemoteErrorStatus(response.status, {uri, endpoint, credentials, detail, hint});
}

Result<S3ListPage> S3UnderStore::ListObjects(const S3Location& prefix, bool recursive,
                                             const std::string& start_after,
                                             const std::string& continuation,
                                             std::size_t max_keys) {
  std::vector<std::pair<std::string, std::string>> query = {
      {"list-type", "2"}, {"prefix", prefix.key}, {"encoding-type", "url"}};
  if (!recursive) query.emplace_back("delimiter", "/");
  // A continuation token already holds the position; S3 ignores start-after beside it.
  if (!continuation.empty()) {
    query.emplace_back("continuation-token", continuation);
  } else if (!start_after.empty()) {
    query.emplace_back("start-after", start_after);
  }
  if (max_keys > 0) query.emplace_back("max-keys", std::to_string(max_keys));
  HttpRequest request;
  request.url = urls_.Url(S3Location{prefix.bucket, ""}, query);
  const std::string uri = S3Uri(prefix);
  list_requests_.fetch_add(1);
  EC_ASSIGN_OR_RETURN(HttpResponse response, Execute(std::move(request), uri));
  if (response.status != 200) return ErrorStatus(response, uri);
  auto page = ParseListObjectsV2(response.body, true);
  if (!page.ok()) return page.status().WithContext(uri);
  return page;
}

Result<FileStatus> S3UnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(S3Location loc, Resolve(path));
  loc.key = TrimTrailingSlashes(loc.key);
  const std::string uri = S3Uri(loc);
  if (loc.key.empty()) {
    HttpRequest request;
    request.method = "HEAD";
    request.url = urls_.Url(loc);
    EC_ASSIGN_OR_RETURN(HttpResponse response, Execute(std::move(request), uri));
    return RootStatus(response, uri, "bucket " + loc.bucket,
                      [&] { return ErrorStatus(response, uri); });
  }
  HttpRequest head;
  head.method = "HEAD";
  head.url = urls_.Url(loc);
  EC_ASSIGN_OR_RETURN(HttpResponse response, Execute(std::move(head), uri));
  return ObjectStatus(
      response, uri, HttpDateNs(Header(response, "last-modified")),
      [&] { return ErrorStatus(response, uri); },
      [&]() -> Result<bool> {
        EC_ASSIGN_OR_RETURN(S3ListPage page,
                            ListObjects(S3Location{loc.bucket, loc.key + "/"}, false, "", "", 1));
        return !page.objects.empty() || !page.common_prefixes.empty();
      });
}

Result<ListPage> S3UnderStore::ListAfter(std::string_view path, bool recursive,
                                         std::string_view start_after, std::size_t limit) {
  ListCalls calls;
  calls.resolve = [&]() -> Result<ListedDirectory> {
    EC_ASSIGN_OR_RETURN(const S3Location loc, Resolve(path));
    return MakeListedDirectory(S3Uri({loc.bucket, ""}), loc.key);
  };
  calls.recursive_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t most) { return ListRecursivePage(dir, after, most); };
  calls.directory_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t most) { return ListDirectoryPage(dir, after, most); };
  calls.stat = [&] { return Stat(path); };
  calls.stat_empty_root = false;
  return ListObjectStore(calls, recursive, start_after, limit);
}

Result<ListPage> S3UnderStore::ListRecursivePage(const ListedDirectory& dir,
                                                 std::string_view start_after, std::size_t limit) {
  const std::string& bucket = root_.bucket;
  const std::string& prefix = dir.prefix;
  const std::string& base = dir.base;
  const std::string s3_start = S3StartAfter(dir, start_after);
  // Keys and paths sort alike here ("s3://bucket/" + key), so S3's order is the page's order.
  ListPage page;
  std::string token;
  bool truncated = false;
  do {
    EC_ASSIGN_OR_RETURN(S3ListPage got,
                        ListObjects(S3Location{bucket, prefix}, true, s3_start, token, kMaxKeys));
    for (auto& obj : got.objects) {
      if (obj.key.ends_with('/')) continue;  // "directory" marker objects
      FileStatus entry{S3Uri({bucket, obj.key}), false, obj.size, obj.mtime_ns,
                       std::move(obj.etag)};
      if (entry.path > start_after) page.entries.push_back(std::move(entry));
    }
    truncated = got.truncated;
    EC_RETURN_IF_ERROR(NextToken(got, base, token));
  } while (truncated && page.entries.size() < limit);
  SortByPath(page.entries);
  page.more = truncated || page.entries.size() > limit;
  if (page.entries.size() > limit) page.entries.resize(limit);
  return page;
}

// S3 sorts a directory by its common prefix "name/", paths sort it by "name": so the directory
// "sub" comes after keys such as "sub-1" or "sub.txt" in S3's order but before them in the
// page's. Once S3 has answered up to key K, what it has not sent yet sorts after K in S3's
// order, which in path order is after K too, except for a directory named by a proper prefix
// of K followed by a byte below '/' ("sub" for K = "sub-1"). Of the entries received, those
// before the shortest such name are final; the rest wait for the next page, unless none is
// final, when one request with that name as prefix settles whether the directory exists.
// So a page costs about one request, plus one for a prefix shared by many keys ("part" of
// "part-00001.parquet") on the first page past it.
Result<ListPage> S3UnderStore::ListDirectoryPage(const ListedDirectory& dir,
                                                 std::string_view start_after, std::size_t limit) {
  const std::string& bucket = root_.bucket;
  const std::string& prefix = dir.prefix;
  const std::string& base = dir.base;
  const std::string s3_start = S3StartAfter(dir, start_after);
  std::vector<FileStatus> seen;   // after start_after, in path order once sorted
  std::set<std::string> settled;  // directory names already known to exist or not
  std::string reached;            // the last key or common prefix S3 sent, past `prefix`
  std::string token;
  bool truncated = true;
  bool fetch = true;
  std::string bound;  // entries at or past base + bound are not final yet ("" = all final)
  while (true) {
    if (fetch) {
      EC_ASSIGN_OR_RETURN(S3ListPage got, ListObjects(S3Location{bucket, prefix}, false, s3_start,
                                                      token, kMaxKeys));
      for (auto& obj : got.objects) {
        reached = std::max(reached, obj.key.substr(prefix.size()));
        if (obj.key == prefix || obj.key.ends_with('/')) continue;  // "directory" markers
        FileStatus entry{S3Uri({bucket, obj.key}), false, obj.size, obj.mtime_ns,
                         std::move(obj.etag)};
        if (entry.path > start_after) seen.push_back(std::move(entry));
      }
      for (auto& p : got.common_prefixes) {
        const std::string name = TrimTrailingSlashes(p.substr(prefix.size()));
        reached = std::max(reached, p.substr(prefix.size()));
        FileStatus entry{base + name, true, 0, 0, ""};
        // (S3 may send a common prefix again when start-after falls inside it.)
        if (entry.path > start_after && !settled.contains(name)) seen.push_back(std::move(entry));
      }
      truncated = got.truncated;
      EC_RETURN_IF_ERROR(NextToken(got, base, token));
    }
    bound.clear();
    if (!truncated) break;
    fetch = true;
    if (limit == UnderStore::kNoLimit) continue;  // everything was asked for: read on
    for (std::size_t i = 1; i < reached.size(); ++i) {
      const std::string name = reached.substr(0, i);
      if (static_cast<unsigned char>(reached[i]) < '/' && base + name > start_after &&
          !settled.contains(name)) {
        bound = name;
        break;
      }
    }
    const std::size_t final_count =
        static_cast<std::size_t>(std::count_if(seen.begin(), seen.end(), [&](const FileStatus& e) {
          return bound.empty() || e.path < base + bound;
        }));
    if (final_count >= limit || (final_count > 0 && final_count < seen.size())) break;
    if (final_count == 0 && !seen.empty()) {
      // Nothing is final before the directory `bound` is settled: ask for it directly.
      EC_ASSIGN_OR_RETURN(S3ListPage probe,
                          ListObjects(S3Location{bucket, prefix + bound + "/"}, true, "", "", 1));
      if (!probe.objects.empty() || !probe.common_prefixes.empty()) {
        seen.push_back(FileStatus{base + bound, true, 0, 0, ""});
      }
      settled.insert(bound);
      fetch = false;
    }
    // Otherwise all are final but too few: read on.
  }
  SortByPath(seen);
  ListPage page;
  for (auto& entry : seen) {
    if (page.entries.size() == limit || (!bound.empty() && entry.path >= base + bound)) {
      page.more = true;
      break;
    }
    page.entries.push_back(std::move(entry));
  }
  page.more = page.more || truncated;
  return page;
}

Result<std::size_t> S3UnderStore::ReadRange(std::string_view path, std::string_view version,
                                            std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(S3Location loc, Resolve(path));
  if (out.empty()) return std::size_t{0};
  const std::string uri = S3Uri(loc);
  HttpRequest request;
  request.url = urls_.Url(loc);
  request.headers.push_back(fmt::format("Range: bytes={}-{}", offset, offset + out.size() - 1));
  if (!version.empty()) request.headers.push_back(fmt::format("If-Match: \"{}\"", version));
  request.body_out = out;
  auto response = Execute(std::move(request), uri);
  EC_ASSIGN_OR_RETURN(const auto bytes, RangedReadBytes(response, offset, uri));
  if (bytes) return *bytes;
  return ErrorStatus(*response, uri);
}

}  // namespace epochcache
