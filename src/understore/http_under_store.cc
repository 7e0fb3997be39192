#include "understore/http_under_store.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <charconv>
#include <optional>

#include "common/http_date.h"
#include "common/path_rules.h"
#include "understore/retrying_http.h"

namespace epochcache {
namespace {

constexpr std::string_view kEtagPrefix = "etag:";
constexpr std::string_view kLastModifiedPrefix = "lm:";

// Versions are "etag:<strong etag>" (checked with If-Match) or "lm:<Last-Modified>-<size>"
// when the server gives no strong ETag (checked with If-Unmodified-Since, and the size
// against Content-Range).
std::string VersionOf(const HttpResponse& r, std::uint64_t size) {
  const std::string etag = HeaderValue(r, "etag");
  if (!etag.empty() && !etag.starts_with("W/")) return std::string(kEtagPrefix) + etag;
  return fmt::format("{}{}-{}", kLastModifiedPrefix, HeaderValue(r, "last-modified"), size);
}

// The total size in "Content-Range: bytes 0-99/1234"; nullopt if absent or "*".
std::optional<std::uint64_t> ContentRangeTotal(const HttpResponse& r) {
  const std::string range = HeaderValue(r, "content-range");
  const auto slash = range.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  std::uint64_t total = 0;
  const char* begin = range.data() + slash + 1;
  const char* end = range.data() + range.size();
  const auto [ptr, ec] = std::from_chars(begin, end, total);
  if (ec != std::errc() || ptr != end || begin == end) return std::nullopt;
  return total;
}

}  // namespace

Result<std::unique_ptr<HttpUnderStore>> HttpUnderStore::Open(std::string_view root_uri,
                                                             const UnderStoreOptions& options) {
  std::string root = WithoutUserinfo(root_uri);  // every message below shows only this
  if (!root.starts_with("http://") && !root.starts_with("https://")) {
    return Status::InvalidArgument(fmt::format("'{}' is not an http(s):// URL", root));
  }
  while (root.ends_with('/')) root.pop_back();
  EC_RETURN_IF_ERROR(CheckUnderPath(root).WithContext("under-store root"));
  auto parts = ParseHttpUrl(root_uri);
  if (!parts.ok()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a usable http(s) URL", root));
  }
  return std::unique_ptr<HttpUnderStore>(
      new HttpUnderStore(std::move(root), parts->Origin(), parts->user, parts->password, options));
}

Status HttpUnderStore::Check(std::string_view path) const {
  if (Status spelled = CheckUnderPath(path); !spelled.ok()) {
    // Never echo a password back: a path with userinfo is shown redacted.
    if (const std::string shown = RedactUserinfo(path); shown != path) {
      return Status::PermissionDenied(
          fmt::format("refused path '{}': a path may not carry userinfo", shown));
    }
    return spelled;
  }
  if (!(path == root_ || (path.starts_with(root_) && path[root_.size()] == '/'))) {
    return Status::PermissionDenied(
        fmt::format("{} is outside the under-store root {}", path, root_));
  }
  // What the server will see after its one decoding must obey the same rule.
  auto decoded = PercentDecode(path.substr(root_.size()));
  if (!decoded.ok()) {
    return Status::PermissionDenied(fmt::format("refused path '{}': a malformed %-escape", path));
  }
  if (decoded->find('\\') != std::string::npos) {
    return Status::PermissionDenied(fmt::format("refused path '{}': it contains '\\'", path));
  }
  Status decoded_check = CheckUnderPath(root_ + *decoded);
  if (!decoded_check.ok()) {
    return Status::PermissionDenied(
        fmt::format("refused path '{}': once %-decoded it is '{}{}', which {}", path, root_,
                    *decoded, "has a '.', '..' or empty segment, '?', '#' or a control character"));
  }
  return Status::Ok();
}

Status HttpUnderStore::ErrorStatus(const HttpResponse& response, std::string_view url) const {
  switch (response.status) {
    case 404:
    case 410:
      return Status::NotFound(fmt::format("{} does not exist (HTTP {})", url, response.status));
    case 401:
    case 403:
      // The answer's body is not shown: an origin may echo the request, credentials included.
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

Result<HttpResponse> HttpUnderStore::Fetch(const HttpRequest& request, const std::string& url) {
  return PerformFollowingRedirects(
      http_, request, url, origin_, kMaxRedirects,
      [&](HttpRequest& hop, bool home) {
        hop.username = home ? user_ : std::string();
        hop.password = home ? password_ : std::string();
      },
      options_, [&](const HttpResponse& r) { return ErrorStatus(r, url); }, &retries_);
}

Result<FileStatus> HttpUnderStore::Stat(std::string_view path) {
  EC_RETURN_IF_ERROR(Check(path));
  const std::string url(path);
  HttpRequest request;
  request.method = "HEAD";
  EC_ASSIGN_OR_RETURN(HttpResponse response, Fetch(request, url));
  if (response.status != 200) return ErrorStatus(response, url);
  FileStatus st;
  st.path = url;
  EC_ASSIGN_OR_RETURN(st.size, HeaderNumber(response, "content-length", url, true));
  st.version = VersionOf(response, st.size);
  st.mtime_ns = HttpDateNs(HeaderValue(response, "last-modified"));
  return st;
}

Result<std::vector<FileStatus>> HttpUnderStore::List(std::string_view path, bool /*recursive*/) {
  EC_RETURN_IF_ERROR(Check(path));
  return Status::InvalidArgument(
      fmt::format("{}: plain HTTP has no directory listing; read files by their URLs", path));
}

Result<std::size_t> HttpUnderStore::ReadRange(std::string_view path, std::string_view version,
                                              std::uint64_t offset, std::span<std::byte> out) {
  EC_RETURN_IF_ERROR(Check(path));
  if (out.empty()) return std::size_t{0};
  const std::string url(path);
  HttpRequest request;
  request.headers.push_back(fmt::format("Range: bytes={}-{}", offset, offset + out.size() - 1));
  std::optional<std::uint64_t> version_size;
  if (version.starts_with(kEtagPrefix)) {
    request.headers.push_back(fmt::format("If-Match: {}", version.substr(kEtagPrefix.size())));
  } else if (version.starts_with(kLastModifiedPrefix)) {
    const std::string_view rest = version.substr(kLastModifiedPrefix.size());
    const auto dash = rest.rfind('-');
    const std::string_view date = rest.substr(0, dash == std::string_view::npos ? 0 : dash);
    if (!date.empty()) request.headers.push_back(fmt::format("If-Unmodified-Since: {}", date));
    if (dash != std::string_view::npos) {
      std::uint64_t size = 0;
      const std::string_view digits = rest.substr(dash + 1);
      const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) version_size = size;
    }
  }
  request.body_out = out;
  auto response = Fetch(request, url);
  EC_ASSIGN_OR_RETURN(const auto bytes, RangedReadBytes(response, offset, url));
  if (!bytes) return ErrorStatus(*response, url);
  if (response->status == 206) {
    const auto total = ContentRangeTotal(*response);
    if (version_size && total && *total != *version_size) {
      return Status::Changed(fmt::format("{} changed: {} bytes now, {} in version {}", url, *total,
                                         *version_size, version));
    }
  }
  return *bytes;
}

}  // namespace epochcache
