// The HTTP(S) under store: files behind plain URLs, such as Hugging Face dataset files.
//
// Stat is a HEAD (Content-Length, ETag, Last-Modified); ReadRange is a GET with a Range header
// and, when the server gives a strong ETag, If-Match, so a replaced file is reported as changed.
// A server that ignores Range is reported as such rather than downloaded whole. HTTP has no
// listing: List is refused with a clear error.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/curl_http.h"
#include "epochcache/under_store.h"

namespace epochcache {

class HttpUnderStore final : public UnderStore {
 public:
  // `root_uri` is "https://host" or "https://host/prefix": only URLs below it are served.
  static Result<std::unique_ptr<HttpUnderStore>> Open(std::string_view root_uri,
                                                      const UnderStoreOptions& options);

  [[nodiscard]] std::string_view Scheme() const override { return "http"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

 private:
  HttpUnderStore(std::string root, const UnderStoreOptions& options)
      : root_(std::move(root)), options_(options) {}
  Status Check(std::string_view path) const;
  Status ErrorStatus(const HttpResponse& response, std::string_view url) const;

  std::string root_;  // without a trailing slash
  UnderStoreOptions options_;
  CurlHttp http_;
  std::atomic<std::uint64_t> retries_{0};
};

}  // namespace epochcache
