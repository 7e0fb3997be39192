// The S3 under store: S3 and S3-compatible servers (MinIO, Ceph RGW, R2, ...), over libcurl
// with its built-in SigV4 signing.
//
// Stat is a HEAD (size, ETag, Last-Modified), or a one-key listing for a "directory" (a common
// prefix). Listing is ListObjectsV2, with "/" as delimiter unless recursive; a page of
// ListAfter starts at S3's start-after and asks for one answer of up to 1000 keys (max-keys),
// so paging through a prefix costs about one request per page. (Subtle: S3 orders a "directory"
// by its common prefix "sub/", after sibling keys like "sub-1" or "sub.txt" that follow "sub"
// in path order; see ListDirectoryPage for how such a page is still cut in path order.)
// ReadRange is a ranged GET with If-Match on the ETag, so a replaced object is reported as
// changed instead of mixing versions. Transient failures (5xx, 503 SlowDown, 429, connection
// resets, timeouts) are retried with exponential backoff and jitter within a deadline.
// Credentials never appear in logs or messages.
//
// Containment: every path passes CheckUnderPath, then must name the root's bucket and a key
// under its prefix; the key goes out exactly as checked. Redirects are never followed (S3
// answers 301/307 for a bucket in another region): a signed request or session token reaches
// only the configured endpoint, and a redirect's body is never taken for the object.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/curl_http.h"
#include "epochcache/under_store.h"
#include "understore/aws_credentials.h"
#include "understore/list_paging.h"
#include "understore/retry_policy.h"
#include "understore/s3_request.h"
#include "understore/s3_xml.h"

namespace epochcache {

class S3UnderStore final : public UnderStore {
 public:
  // `root_uri` is "s3://bucket" or "s3://bucket/prefix": only keys below it are served.
  static Result<std::unique_ptr<S3UnderStore>> Open(std::string_view root_uri,
                                                    const UnderStoreOptions& options);

  [[nodiscard]] std::string_view Scheme() const override { return "s3"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

  // Requests retried so far, and ListObjectsV2 requests sent (for tests and stats).
  [[nodiscard]] std::uint64_t retries() const { return retries_.load(); }
  [[nodiscard]] std::uint64_t list_requests() const { return list_requests_.load(); }
  [[nodiscard]] const std::string& credential_source() const { return credentials_.source; }
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }

 private:
  S3UnderStore(S3Location root, AwsCredentials credentials, std::string endpoint, bool path_style,
               const UnderStoreOptions& options);

  Result<S3Location> Resolve(std::string_view path) const;
  // Sends `request` (signed), retrying transient failures. Any HTTP answer that is not
  // retryable is returned as is, for the caller to interpret.
  Result<HttpResponse> Execute(HttpRequest request, const std::string& uri);
  // One ListObjectsV2 request under `prefix`: from `continuation` if not empty, else after
  // `start_after` if not empty; `max_keys` 0 = the server's default (1000).
  Result<S3ListPage> ListObjects(const S3Location& prefix, bool recursive,
                                 const std::string& start_after, const std::string& continuation,
                                 std::size_t max_keys);
  // The pages of ListAfter (list_paging.h), in the root's bucket.
  Result<ListPage> ListRecursivePage(const ListedDirectory& dir, std::string_view start_after,
                                     std::size_t limit);
  Result<ListPage> ListDirectoryPage(const ListedDirectory& dir, std::string_view start_after,
                                     std::size_t limit);
  // The Status for an unsuccessful answer, with any credential scrubbed from its message.
  Status ErrorStatus(const HttpResponse& response, const std::string& uri) const;
  Status DescribeError(const HttpResponse& response, const std::string& uri) const;

  S3Location root_;
  AwsCredentials credentials_;
  std::string endpoint_;
  S3UrlBuilder urls_;
  UnderStoreOptions options_;
  CurlHttp http_;
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> list_requests_{0};
};

}  // namespace epochcache
