#include "understore/azure_under_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "common/http_date.h"
#include "common/path_rules.h"
#include "understore/list_paging.h"
#include "understore/remote_errors.h"
#include "understore/retrying_http.h"
#include "understore/s3_xml.h"

namespace epochcache {
namespace {

// A Blob service version that every service and Azurite 3.x accept.
constexpr std::string_view kApiVersion = "2021-08-06";
// Remembered resume markers per store; cleared when full (they only save requests).
constexpr std::size_t kMaxResumeMarkers = 256;

std::string Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only at start
  return v != nullptr ? std::string(v) : std::string();
}

std::string TrimTrailingSlashes(std::string key) {
  while (!key.empty() && key.back() == '/') key.pop_back();
  return key;
}

// The `sig` parameter of a SAS token: the part that grants access.
std::string SasSignature(std::string_view sas) {
  for (std::size_t at = 0; at < sas.size();) {
    const auto amp = sas.find('&', at);
    const std::string_view pair = sas.substr(at, amp - at);
    if (pair.starts_with("sig=")) return std::string(pair.substr(4));
    if (amp == std::string_view::npos) break;
    at = amp + 1;
  }
  return {};
}

FileStatus BlobEntry(const std::string& base, const std::string& prefix, AzureBlob& blob) {
  return FileStatus{base + blob.name.substr(prefix.size()), false, blob.size, blob.mtime_ns,
                    std::move(blob.etag)};
}

}  // namespace

Result<AzureCredentials> ResolveAzureCredentials(const AzureOptions& options,
                                                 const std::string& url_account) {
  AzureCredentials out;
  AzureConnectionString conn;
  const bool explicit_options = !options.account_name.empty() || !options.account_key.empty() ||
                                !options.sas_token.empty() || !options.connection_string.empty();
  std::string conn_text = options.connection_string;
  if (!explicit_options) conn_text = Env("AZURE_STORAGE_CONNECTION_STRING");
  if (!conn_text.empty()) {
    EC_ASSIGN_OR_RETURN(conn, ParseAzureConnectionString(conn_text));
    out.source = "connection string";
  }
  if (explicit_options) {
    if (!options.account_name.empty()) conn.account_name = options.account_name;
    if (!options.account_key.empty()) conn.account_key = options.account_key;
    if (!options.sas_token.empty()) conn.sas_token = options.sas_token;
    out.source = "options";
  } else if (conn_text.empty()) {
    conn.account_name = Env("AZURE_STORAGE_ACCOUNT_NAME");
    conn.account_key = Env("AZURE_STORAGE_ACCOUNT_KEY");
    conn.sas_token = Env("AZURE_STORAGE_SAS_TOKEN");
    out.source = "environment";
  }
  if (!url_account.empty()) {
    if (!conn.account_name.empty() && conn.account_name != url_account) {
      return Status::InvalidArgument(
          fmt::format("the URI names storage account {} but the credentials are for account {}",
                      url_account, conn.account_name));
    }
    conn.account_name = url_account;
  }
  out.account = conn.account_name;
  out.account_key = conn.account_key;
  out.sas_token = conn.sas_token;
  if (out.sas_token.starts_with('?')) out.sas_token.erase(0, 1);
  out.endpoint = options.endpoint_url;
  if (out.endpoint.empty()) out.endpoint = conn.blob_endpoint;
  if (out.endpoint.empty()) out.endpoint = Env("AZURE_STORAGE_BLOB_ENDPOINT");
  if (out.endpoint.empty()) {
    if (out.account.empty()) {
      return Status::InvalidArgument(
          "no Azure storage account: set AZURE_STORAGE_ACCOUNT_NAME (or "
          "AZURE_STORAGE_CONNECTION_STRING), or name it in the URI "
          "(abfs://container@ACCOUNT.dfs.core.windows.net/path)");
    }
    out.endpoint = fmt::format("{}://{}.blob.{}", conn.protocol, out.account, conn.endpoint_suffix);
  }
  while (out.endpoint.ends_with('/')) out.endpoint.pop_back();
  if (!out.endpoint.starts_with("http://") && !out.endpoint.starts_with("https://")) {
    return Status::InvalidArgument(
        fmt::format("Azure blob endpoint '{}' must start with http:// "
                    "or https://",
                    RedactUserinfo(out.endpoint)));
  }
  if (out.account_key.empty() && out.sas_token.empty()) {
    out.bearer_token = Env("AZURE_STORAGE_TOKEN");
    if (!out.bearer_token.empty()) {
      out.source = "Azure AD token";
      EC_ASSIGN_OR_RETURN(UrlParts where, ParseHttpUrl(out.endpoint));
      // A bearer token is not bound to the request: over plain http anyone on the path could
      // replay it. Loopback (an emulator) is the one exception.
      if (where.scheme != "https" && where.host != "127.0.0.1" && where.host != "localhost" &&
          where.host != "[::1]" && where.host != "::1") {
        return Status::InvalidArgument(
            fmt::format("an Azure AD token is sent only over https; the endpoint {} is not",
                        RedactUserinfo(out.endpoint)));
      }
    }
  }
  if (options.anonymous) {
    out.account_key.clear();
    out.sas_token.clear();
    out.bearer_token.clear();
  }
  if (!out.account_key.empty() && out.account.empty()) {
    return Status::InvalidArgument(
        "an Azure account key needs the account name (AZURE_STORAGE_ACCOUNT_NAME or AccountName)");
  }
  if (out.account_key.empty() && out.sas_token.empty() && out.bearer_token.empty()) {
    out.source = "anonymous";
  }
  return out;
}

AzureUnderStore::AzureUnderStore(AzureUri root, AzureCredentials credentials,
                                 std::string endpoint_path, const UnderStoreOptions& options)
    : root_(std::move(root)),
      credentials_(std::move(credentials)),
      endpoint_path_(std::move(endpoint_path)),
      options_(options) {}

Result<std::unique_ptr<AzureUnderStore>> AzureUnderStore::Open(std::string_view root_uri,
                                                               const UnderStoreOptions& options) {
  EC_RETURN_IF_ERROR(CheckUnderPath(root_uri));
  EC_ASSIGN_OR_RETURN(AzureUri root, ParseAzureUri(root_uri));
  root.location.blob = TrimTrailingSlashes(root.location.blob);
  EC_ASSIGN_OR_RETURN(AzureCredentials creds, ResolveAzureCredentials(options.azure, root.account));
  if (!creds.account_key.empty()) {
    // A key that is not base64 fails every request; say so once, now.
    EC_RETURN_IF_ERROR(SharedKeySignature(creds.account_key, "").status());
  }
  EC_ASSIGN_OR_RETURN(UrlParts parts, ParseHttpUrl(creds.endpoint));
  std::string path = parts.path;
  while (path.ends_with('/')) path.pop_back();
  if (options.azure.list_page_size == 0) {
    return Status::InvalidArgument("the Azure list page size must be at least 1");
  }
  return std::unique_ptr<AzureUnderStore>(
      new AzureUnderStore(std::move(root), std::move(creds), std::move(path), options));
}

std::string AzureUnderStore::Uri(const AzureLocation& loc) const {
  std::string out = root_.scheme + "://" + loc.container;
  if (!loc.blob.empty()) out += "/" + loc.blob;
  return out;
}

Result<AzureLocation> AzureUnderStore::Resolve(std::string_view path) const {
  // The blob name goes out as checked (each byte percent-encoded except '/'), so a name that
  // passes CheckUnderPath and lies under the root's prefix is the blob fetched.
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  EC_ASSIGN_OR_RETURN(AzureUri uri, ParseAzureUri(path));
  const std::string& prefix = root_.location.blob;
  const bool inside = uri.location.container == root_.location.container &&
                      (uri.account.empty() || uri.account == credentials_.account) &&
                      (prefix.empty() || TrimTrailingSlashes(uri.location.blob) == prefix ||
                       uri.location.blob.starts_with(prefix + "/"));
  if (!inside) {
    return Status::PermissionDenied(
        fmt::format("{} is outside the under-store root {}", path, Uri(root_.location)));
  }
  return uri.location;
}

Result<HttpResponse> AzureUnderStore::Execute(
    const std::string& method, const AzureLocation& loc,
    std::vector<std::pair<std::string, std::string>> query,
    std::vector<std::pair<std::string, std::string>> ms_headers, const std::string& if_match,
    std::span<std::byte> body_out) {
  const std::string uri = Uri(loc);
  std::string url_path = endpoint_path_ + "/" + AwsUriEncode(loc.container, false);
  if (!loc.blob.empty()) url_path += "/" + AwsUriEncode(loc.blob, true);
  const auto origin_end = credentials_.endpoint.size() - endpoint_path_.size();
  std::string url = credentials_.endpoint.substr(0, origin_end) + url_path;
  std::string query_text;
  for (const auto& [name, value] : query) {
    query_text += (query_text.empty() ? "" : "&") + AwsUriEncode(name, false) + "=" +
                  AwsUriEncode(value, false);
  }
  if (credentials_.account_key.empty() && !credentials_.sas_token.empty()) {
    query_text += (query_text.empty() ? "" : "&") + credentials_.sas_token;
  }
  if (!query_text.empty()) url += "?" + query_text;

  ms_headers.emplace_back("x-ms-date", AzureDateNow());
  ms_headers.emplace_back("x-ms-version", std::string(kApiVersion));
  HttpRequest request;
  request.method = method;
  request.url = std::move(url);
  request.body_out = body_out;
  for (const auto& [name, value] : ms_headers) {
    request.headers.push_back(fmt::format("{}: {}", name, value));
  }
  if (!if_match.empty()) request.headers.push_back("If-Match: " + if_match);
  if (!credentials_.account_key.empty()) {
    const std::string to_sign = SharedKeyStringToSign(AzureSignInput{
        method, if_match, ms_headers, credentials_.account, url_path, std::move(query)});
    EC_ASSIGN_OR_RETURN(std::string signature,
                        SharedKeySignature(credentials_.account_key, to_sign));
    request.headers.push_back(
        fmt::format("Authorization: SharedKey {}:{}", credentials_.account, signature));
  } else if (credentials_.sas_token.empty() && !credentials_.bearer_token.empty()) {
    request.headers.push_back("Authorization: Bearer " + credentials_.bearer_token);
  }
  // The date is signed, so a retry re-sends the same request: Azure accepts a signed date up
  // to 15 minutes old, longer than any operation deadline.
  return PerformWithRetries(
      http_, request, options_, uri,
      [&](const HttpResponse& response) { return ErrorStatus(response, uri); }, &retries_);
}

Status AzureUnderStore::ErrorStatus(const HttpResponse& response, const std::string& uri) const {
  return WithoutSecrets(DescribeError(response, uri),
                        {credentials_.account_key, credentials_.sas_token,
                         SasSignature(credentials_.sas_token), credentials_.bearer_token});
}

Status AzureUnderStore::DescribeError(const HttpResponse& response, const std::string& uri) const {
  AzureError err = ParseAzureError(response.body);
  if (err.code.empty()) err.code = HeaderValue(response, "x-ms-error-code");
  std::string detail = fmt::format("HTTP {}", response.status);
  if (!err.code.empty()) detail += " " + err.code;
  // AuthenticationFailed's message quotes the string the server signed: nothing secret, but
  // noise; the code says it all.
  if (!err.message.empty() && err.code != "AuthenticationFailed") {
    detail += fmt::format(": {:.300}", err.message);
  }
  if (response.status == 404 && err.code == "ContainerNotFound") {
    return Status::NotFound(
        fmt::format("{}: container {} does not exist", uri, root_.location.container));
  }
  const std::string endpoint = RedactUserinfo(credentials_.endpoint);
  const std::string credentials = fmt::format(
      "{} credentials{}", credentials_.source,
      credentials_.account.empty() ? std::string() : " for account " + credentials_.account);
  return RemoteErrorStatus(response.status, {uri, endpoint, credentials, detail});
}

Result<AzureListPage> AzureUnderStore::ListBlobs(const std::string& prefix, bool recursive,
                                                 const std::string& marker,
                                                 std::size_t max_results) {
  std::vector<std::pair<std::string, std::string>> query = {{"restype", "container"},
                                                            {"comp", "list"}};
  if (!prefix.empty()) query.emplace_back("prefix", prefix);
  if (!recursive) query.emplace_back("delimiter", "/");
  if (!marker.empty()) query.emplace_back("marker", marker);
  query.emplace_back("maxresults", std::to_string(max_results));
  const AzureLocation container{root_.location.container, ""};
  const std::string uri = Uri(AzureLocation{container.container, prefix});
  list_requests_.fetch_add(1);
  EC_ASSIGN_OR_RETURN(HttpResponse response,
                      Execute("GET", container, std::move(query), {}, "", {}));
  if (response.status != 200) return ErrorStatus(response, uri);
  auto page = ParseAzureListBlobs(response.body);
  if (!page.ok()) return page.status().WithContext(uri);
  if (!page->next_marker.empty() && page->next_marker == marker) {
    return Status::IoError(uri + ": the listing repeats its marker");
  }
  return page;
}

Result<FileStatus> AzureUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(AzureLocation loc, Resolve(path));
  loc.blob = TrimTrailingSlashes(loc.blob);
  const std::string uri = Uri(loc);
  if (loc.blob.empty()) {
    EC_ASSIGN_OR_RETURN(HttpResponse response,
                        Execute("HEAD", loc, {{"restype", "container"}}, {}, "", {}));
    return RootStatus(response, uri, "container " + loc.container,
                      [&] { return ErrorStatus(response, uri); });
  }
  EC_ASSIGN_OR_RETURN(HttpResponse response, Execute("HEAD", loc, {}, {}, "", {}));
  return ObjectStatus(
      response, uri, HttpDateNs(HeaderValue(response, "last-modified")),
      [&] { return ErrorStatus(response, uri); },
      [&]() -> Result<bool> {
        EC_ASSIGN_OR_RETURN(AzureListPage page, ListBlobs(loc.blob + "/", false, "", 1));
        return !page.blobs.empty() || !page.prefixes.empty();
      });
}

Result<ListPage> AzureUnderStore::ListAfter(std::string_view path, bool recursive,
                                            std::string_view start_after, std::size_t limit) {
  ListCalls calls;
  calls.resolve = [&]() -> Result<ListedDirectory> {
    EC_ASSIGN_OR_RETURN(const AzureLocation loc, Resolve(path));
    return MakeListedDirectory(Uri(AzureLocation{loc.container, ""}), loc.blob);
  };
  calls.recursive_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t most) { return ListRecursivePage(dir, after, most); };
  calls.directory_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t most) { return ListDirectoryPage(dir, after, most); };
  // An empty page of the container is checked too: a missing container is NotFound even when
  // start_after follows every entry and no listing was sent.
  calls.stat = [&] { return Stat(path); };
  return ListObjectStore(calls, recursive, start_after, limit);
}

Result<ListPage> AzureUnderStore::ListRecursivePage(const ListedDirectory& dir,
                                                    std::string_view start_after,
                                                    std::size_t limit) {
  const std::string& prefix = dir.prefix;
  const std::string& base = dir.base;
  // Blob names and paths sort alike here (base + name), so Azure's order is the page's order.
  std::string marker;
  if (!start_after.empty()) {
    std::lock_guard lock(resume_mu_);
    auto it = resume_.find(prefix + '\0' + std::string(start_after));
    if (it != resume_.end()) marker = it->second;
  }
  ListPage page;
  std::string page_marker;  // the marker of the answer the page ends in
  do {
    page_marker = marker;
    EC_ASSIGN_OR_RETURN(AzureListPage got,
                        ListBlobs(prefix, true, marker, options_.azure.list_page_size));
    for (auto& blob : got.blobs) {
      if (blob.name.ends_with('/') || !blob.name.starts_with(prefix)) continue;  // markers
      FileStatus entry = BlobEntry(base, prefix, blob);
      if (entry.path > start_after) page.entries.push_back(std::move(entry));
    }
    marker = std::move(got.next_marker);
  } while (!marker.empty() && page.entries.size() < limit);
  page.more = !marker.empty() || page.entries.size() > limit;
  if (page.entries.size() > limit) {
    page.entries.resize(limit);
    marker = page_marker;  // the rest of that answer is still to come
  }
  if (page.more && !page.entries.empty()) {
    std::lock_guard lock(resume_mu_);
    if (resume_.size() >= kMaxResumeMarkers) resume_.clear();
    resume_[prefix + '\0' + page.entries.back().path] = marker;
  }
  return page;
}

Result<ListPage> AzureUnderStore::ListDirectoryPage(const ListedDirectory& dir,
                                                    std::string_view start_after,
                                                    std::size_t limit) {
  const std::string& prefix = dir.prefix;
  const std::string& base = dir.base;
  std::vector<FileStatus> all;
  std::string marker;
  do {
    EC_ASSIGN_OR_RETURN(AzureListPage got,
                        ListBlobs(prefix, false, marker, options_.azure.list_page_size));
    for (auto& blob : got.blobs) {
      if (blob.name == prefix || blob.name.ends_with('/') || !blob.name.starts_with(prefix)) {
        continue;  // "directory" marker blobs
      }
      all.push_back(BlobEntry(base, prefix, blob));
    }
    for (const auto& p : got.prefixes) {
      if (!p.starts_with(prefix) || p.size() <= prefix.size() + 1) continue;
      all.push_back(
          FileStatus{base + TrimTrailingSlashes(p.substr(prefix.size())), true, 0, 0, ""});
    }
    marker = std::move(got.next_marker);
  } while (!marker.empty());
  // A hierarchical-namespace account lists a directory both as a prefix "sub/" and as an
  // empty blob "sub": one entry per path, the directory.
  std::sort(all.begin(), all.end(), [](const FileStatus& a, const FileStatus& b) {
    return a.path != b.path ? a.path < b.path : a.is_directory && !b.is_directory;
  });
  all.erase(std::unique(all.begin(), all.end(),
                        [](const FileStatus& a, const FileStatus& b) { return a.path == b.path; }),
            all.end());
  return SliceListing(std::move(all), start_after, limit);
}

Result<std::size_t> AzureUnderStore::ReadRange(std::string_view path, std::string_view version,
                                               std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(AzureLocation loc, Resolve(path));
  if (out.empty()) return std::size_t{0};
  const std::string uri = Uri(loc);
  const std::string if_match = version.empty() ? "" : fmt::format("\"{}\"", version);
  auto response = Execute(
      "GET", loc, {}, {{"x-ms-range", fmt::format("bytes={}-{}", offset, offset + out.size() - 1)}},
      if_match, out);
  EC_ASSIGN_OR_RETURN(const auto bytes, RangedReadBytes(response, offset, uri));
  if (bytes) return *bytes;
  return ErrorStatus(*response, uri);
}

}  // namespace epochcache
