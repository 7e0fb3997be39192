#include "understore/http_under_store.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include "understore/retrying_http.h"

namespace epochcache {
namespace {

std::string Header(const HttpResponse& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

// Versions are "etag:<strong etag>" (checked with If-Match) or "lm:<Last-Modified>-<size>"
// when the server gives no strong ETag (checked with If-Unmodified-Since).
std::string VersionOf(const HttpResponse& r, std::uint64_t size) {
  const std::string etag = Header(r, "etag");
  if (!etag.empty() && !etag.starts_with("W/")) return "etag:" + etag;
  return fmt::format("lm:{}-{}", Header(r, "last-modified"), size);
}

}  // namespace

Result<std::unique_ptr<HttpUnderStore>> HttpUnderStore::Open(std::string_view root_uri,
                                                             const UnderStoreOptions& options) {
  std::string root(root_uri);
  if (!root.starts_with("http://") && !root.starts_with("https://")) {
    return Status::InvalidArgument(fmt::format("'{}' is not an http(s):// URL", root_uri));
  }
  while (root.ends_with('/')) root.pop_back();
  return std::unique_ptr<HttpUnderStore>(new HttpUnderStore(std::move(root), options));
}

Status HttpUnderStore::Check(std::string_view path) const {
  if (path == root_ || (path.starts_with(root_) && path.size() > root_.size() &&
                        (path[root_.size()] == '/' || root_.ends_with('/')))) {
    if (path.find("/../") != std::string_view::npos || path.ends_with("/..")) {
      return Status::PermissionDenied(fmt::format("{} contains '..'", path));
    }
    return Status::Ok();
  }
  return Status::PermissionDenied(
      fmt::format("{} is outside the under-store root {}", path, root_));
}

Status HttpUnderStore::ErrorStatus(const HttpResponse& response, std::string_view url) const {
  switch (response.status) {
    case 404:
    case 410:
      return Status::NotFound(fmt::format("{} does not exist (HTTP {})", url, response.status));
    case 401:
    case 403:
      return Status::PermissionDenied(
          fmt::format("{}: access denied (HTTP {})", url, response.status));
    case 412:
      return Status::Changed(fmt::format("{} changed while being read", url));
    default:
      if (response.status >= 500 || response.status == 429) {
        return Status::Unavailable(
            fmt::format("{}: server answered HTTP {}", url, response.status));
      }
      return Status::IoError(fmt::format("{}: unexpected HTTP {}", url, response.status));
  }
}

Result<FileStatus> HttpUnderStore::Stat(std::string_view path) {
  EC_RETURN_IF_ERROR(Check(path));
  const std::string url(path);
  HttpRequest request;
  request.method = "HEAD";
  request.url = url;
  request.connect_timeout = options_.connect_timeout;
  request.timeout = options_.request_timeout;
  EC_ASSIGN_OR_RETURN(HttpResponse response,
                      PerformWithRetries(
                          http_, request, options_, url,
                          [&](const HttpResponse& r) { return ErrorStatus(r, url); }, &retries_));
  if (response.status != 200) return ErrorStatus(response, url);
  const std::string length = Header(response, "content-length");
  if (length.empty()) {
    return Status::IoError(fmt::format("{}: the server gives no Content-Length", url));
  }
  FileStatus st;
  st.path = url;
  st.size = std::stoull(length);
  st.version = VersionOf(response, st.size);
  const time_t t = curl_getdate(Header(response, "last-modified").c_str(), nullptr);
  st.mtime_ns = t < 0 ? 0 : static_cast<std::int64_t>(t) * 1'000'000'000;
  return st;
}

Result<std::vector<FileStatus>> HttpUnderStore::List(std::string_view path, bool recursive) {
  return Status::InvalidArgument(
      fmt::format("{}: plain HTTP has no directory listing; read files by their URLs", path));
}

Result<std::size_t> HttpUnderStore::ReadRange(std::string_view path, std::string_view version,
                                              std::uint64_t offset, std::span<std::byte> out) {
  EC_RETURN_IF_ERROR(Check(path));
  if (out.empty()) return std::size_t{0};
  const std::string url(path);
  HttpRequest request;
  request.url = url;
  request.connect_timeout = options_.connect_timeout;
  request.timeout = options_.request_timeout;
  request.headers.push_back(fmt::format("Range: bytes={}-{}", offset, offset + out.size() - 1));
  if (version.starts_with("etag:")) {
    request.headers.push_back(fmt::format("If-Match: {}", version.substr(5)));
  }
  request.body_out = out;
  auto response = PerformWithRetries(
      http_, request, options_, url, [&](const HttpResponse& r) { return ErrorStatus(r, url); },
      &retries_);
  const std::string ignored = fmt::format(
      "{}: the server ignored the Range header (it would send the whole file for a range)", url);
  if (!response.ok()) {
    if (response.status().message().find("more bytes than") != std::string::npos) {
      return Status::IoError(ignored);
    }
    return response.status();
  }
  switch (response->status) {
    case 206:
      return response->body_bytes;
    case 200:
      if (offset == 0) return response->body_bytes;
      return Status::IoError(ignored);
    case 416:
      return std::size_t{0};
    default:
      return ErrorStatus(*response, url);
  }
}

}  // namespace epochcache
