// The HTTP(S) under store: files behind plain URLs, such as Hugging Face dataset files.
//
// Stat is a HEAD (Content-Length, ETag, Last-Modified); ReadRange is a GET with a Range header
// and the version as a condition: If-Match for a strong ETag ("etag:" versions), otherwise
// If-Unmodified-Since for the Last-Modified date ("lm:" versions), so a replaced file answers
// 412 and is reported as changed; an "lm:" version also carries the size, checked against the
// total in Content-Range. (A server that sends neither a strong ETag nor Last-Modified leaves
// only that size check: such files should not be trusted to change visibly.) A server that
// ignores Range is reported as such rather than downloaded whole. HTTP has no listing: List is
// refused with a clear error.
//
// Containment: a path is a URL under the root ("http://host/prefix/..."). It must pass
// CheckUnderPath both as given and with its path percent-decoded once (a server decodes
// "%2e%2e" to ".." and may then resolve it), must not contain '\' (some servers treat it as
// '/'), and is sent exactly as given (libcurl never collapses dot segments).
//
// Credentials: a root may carry them ("http://user:pass@host/prefix"). Paths never do; the
// credentials are sent as HTTP Basic auth only to the root's origin (scheme, host, port) and
// are shown as "***" in every message.
//
// Redirects (the Hugging Face "resolve" URLs redirect to a CDN) are followed here, not by
// libcurl, at most kMaxRedirects hops, to http(s) only and never from https to http. On a hop
// to another origin no credentials go along. The rule for what may be cached: a redirect's own
// body is never used; the bytes used are the 2xx body of the final hop, which received the
// same Range and version condition as the first. Stat follows the same chain, so the version
// describes the bytes the final hop serves, and a change there is still caught by its 412.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/curl_http.h"
#include "epochcache/under_store.h"

namespace epochcache {

class HttpUnderStore final : public UnderStore {
 public:
  static constexpr int kMaxRedirects = 5;

  // `root_uri` is "https://host" or "https://[user:pass@]host/prefix": only URLs below it are
  // served.
  static Result<std::unique_ptr<HttpUnderStore>> Open(std::string_view root_uri,
                                                      const UnderStoreOptions& options);

  [[nodiscard]] std::string_view Scheme() const override { return "http"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

  // The root as shown in messages: no credentials.
  [[nodiscard]] const std::string& root() const { return root_; }

 private:
  HttpUnderStore(std::string root, std::string origin, std::string user, std::string password,
                 const UnderStoreOptions& options)
      : root_(std::move(root)),
        origin_(std::move(origin)),
        user_(std::move(user)),
        password_(std::move(password)),
        options_(options) {}
  Status Check(std::string_view path) const;
  // Performs `request`, following redirects as described above.
  Result<HttpResponse> Fetch(const HttpRequest& request, const std::string& url);
  Status ErrorStatus(const HttpResponse& response, std::string_view url) const;

  std::string root_;    // without credentials or a trailing slash
  std::string origin_;  // the root's scheme://host:port
  std::string user_;    // decoded Basic credentials, empty if none
  std::string password_;
  UnderStoreOptions options_;
  CurlHttp http_;
  std::atomic<std::uint64_t> retries_{0};
};

}  // namespace epochcache
