// The Azure Blob under store (az://container/path, abfs://, abfss://), over libcurl with
// Shared Key signing (azure_request.h), a SAS token, or no credentials (public containers).
//
// Stat is Get Blob Properties (a HEAD: size, ETag, Last-Modified), or a one-blob listing for
// a "directory" (a prefix other blobs share). ReadRange is a ranged Get Blob with If-Match on
// the ETag, so a replaced blob is reported as changed instead of mixing versions. Listing is
// List Blobs with prefix, "/" as delimiter unless recursive, and marker pagination.
//
// List Blobs has no start-after: its marker is opaque. A recursive page, whose entries come in
// Azure's (lexicographic) order, resumes from the marker of the answer it stopped in when the
// next page asks to start after the last path it returned (remembered per store, bounded), and
// otherwise lists from the start and skips; entries at or before start_after are dropped in
// both cases, so the result is the same either way. A directory page lists the whole
// directory (one request per 5000 entries) and slices it: Azure orders a prefix "sub/" after
// "sub-1", path order puts "sub" first, so only the whole directory gives a page in path order.
//
// Transient failures (500, 503 ServerBusy, 429, resets, timeouts) are retried with the shared
// policy. Redirects are never followed. The account key and SAS token never appear in logs or
// messages. Containment: every path passes CheckUnderPath, then must name the root's container
// (and account, when it names one) and a blob under the root's prefix.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/curl_http.h"
#include "epochcache/under_store.h"
#include "understore/azure_request.h"
#include "understore/azure_xml.h"
#include "understore/list_paging.h"

namespace epochcache {

// Where requests go and how they are signed, resolved from options and the environment.
struct AzureCredentials {
  std::string account;
  std::string account_key;  // base64; empty = no Shared Key
  std::string sas_token;    // without '?'; empty = no SAS
  // An Azure AD (Entra ID) access token for https://storage.azure.com/, already acquired
  // (AZURE_STORAGE_TOKEN); used only without a key or SAS. Empty = none.
  std::string bearer_token;
  std::string endpoint;  // "https://account.blob.core.windows.net", no trailing '/'
  std::string source;    // "options", "connection string", "environment", "anonymous"
};

// The options' fields first, else AZURE_STORAGE_CONNECTION_STRING, else
// AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN (or an
// Azure AD access token in AZURE_STORAGE_TOKEN, sent only over https or to loopback); the
// endpoint from the options, the connection string or AZURE_STORAGE_BLOB_ENDPOINT, else the
// public cloud's for the account. `url_account` is the account a root URI names (or empty).
Result<AzureCredentials> ResolveAzureCredentials(const AzureOptions& options,
                                                 const std::string& url_account);

class AzureUnderStore final : public UnderStore {
 public:
  static Result<std::unique_ptr<AzureUnderStore>> Open(std::string_view root_uri,
                                                       const UnderStoreOptions& options);

  [[nodiscard]] std::string_view Scheme() const override { return "azure"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

  [[nodiscard]] std::uint64_t retries() const { return retries_.load(); }
  [[nodiscard]] std::uint64_t list_requests() const { return list_requests_.load(); }
  [[nodiscard]] const std::string& credential_source() const { return credentials_.source; }

 private:
  AzureUnderStore(AzureUri root, AzureCredentials credentials, std::string endpoint_path,
                  const UnderStoreOptions& options);

  Result<AzureLocation> Resolve(std::string_view path) const;
  [[nodiscard]] std::string Uri(const AzureLocation& loc) const;
  // Sends one signed request for `loc` (blob empty = the container), retrying transient
  // failures; any other answer is returned for the caller to interpret.
  Result<HttpResponse> Execute(const std::string& method, const AzureLocation& loc,
                               std::vector<std::pair<std::string, std::string>> query,
                               std::vector<std::pair<std::string, std::string>> ms_headers,
                               const std::string& if_match, std::span<std::byte> body_out);
  Result<AzureListPage> ListBlobs(const std::string& prefix, bool recursive,
                                  const std::string& marker, std::size_t max_results);
  // The pages of ListAfter (list_paging.h), in the root's container.
  Result<ListPage> ListRecursivePage(const ListedDirectory& dir, std::string_view start_after,
                                     std::size_t limit);
  Result<ListPage> ListDirectoryPage(const ListedDirectory& dir, std::string_view start_after,
                                     std::size_t limit);
  Status ErrorStatus(const HttpResponse& response, const std::string& uri) const;
  Status DescribeError(const HttpResponse& response, const std::string& uri) const;

  AzureUri root_;
  AzureCredentials credentials_;
  std::string endpoint_path_;  // the endpoint URL's path ("/devstoreaccount1" for Azurite)
  UnderStoreOptions options_;
  CurlHttp http_;
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> list_requests_{0};
  // prefix + '\0' + start_after -> a marker from which every blob after start_after is listed.
  std::mutex resume_mu_;
  std::map<std::string, std::string> resume_;  // GUARDED_BY(resume_mu_)
};

}  // namespace epochcache
