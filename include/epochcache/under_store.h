// The under store: the remote storage epochcache caches (local directory, S3, HTTP, ...).
//
// It is the source of truth. epochcache only ever reads it: no method here modifies anything.
// Paths are the under store's own URIs, exactly what a user would give the target filesystem:
// "/data/train/x.parquet" (or "file:///data/train/x.parquet") for a local directory,
// "s3://bucket/train/x.parquet" for S3.
//
// Thread-safety: every implementation is safe to call from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct FileStatus {
  std::string path;  // the canonical URI of the entry, as the under store spells it
  bool is_directory = false;
  std::uint64_t size = 0;     // bytes; 0 for directories
  std::int64_t mtime_ns = 0;  // last modification, nanoseconds since the epoch (0 if unknown)
  // Identifies the content: an S3 ETag / version id, for HTTP "etag:<ETag>" or
  // "lm:<Last-Modified>-<size>", for local files "size-mtime_ns-inode-ctime_ns" (ctime cannot
  // be set by users, so a rewrite that keeps size and mtime still changes it). Part of every
  // cached page's identity, so a changed object is never served from old pages.
  std::string version;

  bool operator==(const FileStatus&) const = default;
};

// One page of a directory listing (see UnderStore::ListAfter).
struct ListPage {
  std::vector<FileStatus> entries;  // sorted by path
  bool more = false;                // entries past the last one returned may exist
};

class UnderStore {
 public:
  virtual ~UnderStore() = default;

  // A short name for logs and metrics ("local", "s3", "memory").
  [[nodiscard]] virtual std::string_view Scheme() const = 0;

  // Status of a file or directory. NotFound if neither exists.
  virtual Result<FileStatus> Stat(std::string_view path) = 0;

  // Entries directly inside the directory `path` (or every file below it when `recursive`),
  // sorted by path. NotFound if `path` is not a directory. A store that overrides ListAfter
  // implements this as ListAllPages.
  virtual Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) = 0;

  static constexpr std::size_t kNoLimit = static_cast<std::size_t>(-1);

  // One page of List(path, recursive): the entries whose path sorts after `start_after` (byte
  // order; empty = from the start), at most `limit` of them (kNoLimit: all), in path order.
  // A page may hold fewer than `limit` entries while `more` is true, but never none: a caller
  // lists everything by asking again with start_after = the last path returned until `more`
  // is false. (`more` may be true when only entries a store skips are left; the next page is
  // then empty with `more` false.) NotFound if `path` is not a directory; InvalidArgument for
  // a `limit` of 0.
  // This default lists everything and slices it, for stores that cannot do better: the stores
  // of OpenUnderStore that can list (local, S3, memory) override it and read only about one
  // page from their storage.
  virtual Result<ListPage> ListAfter(std::string_view path, bool recursive,
                                     std::string_view start_after, std::size_t limit);

  // Reads up to out.size() bytes at `offset` into `out`; returns the number of bytes read,
  // which is less than out.size() only at the end of the file.
  // When `version` is not empty and the object no longer has that version, returns kChanged
  // rather than bytes of another version.
  virtual Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                        std::uint64_t offset, std::span<std::byte> out) = 0;

 protected:
  // List for a store that overrides ListAfter: the one page without limit.
  Result<std::vector<FileStatus>> ListAllPages(std::string_view path, bool recursive);
};

// How to reach S3 or an S3-compatible store. Empty fields fall back to the standard AWS
// environment variables, then the ~/.aws/credentials and ~/.aws/config profiles.
struct S3Options {
  std::string endpoint_url;  // "http://127.0.0.1:9000"; empty = AWS's endpoint for the region
  std::string region;        // empty = AWS_REGION / AWS_DEFAULT_REGION / profile / us-east-1
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string profile;     // empty = AWS_PROFILE, else "default"
  bool anonymous = false;  // unsigned requests, for public buckets
  // "path" (http://endpoint/bucket/key), "virtual" (http://bucket.endpoint/key) or "auto":
  // path-style for a custom endpoint, virtual-hosted for AWS.
  std::string addressing = "auto";
};

// How to reach Azure Blob Storage (az://, abfs://), with adlfs's option names. Empty fields
// fall back to AZURE_STORAGE_CONNECTION_STRING, then AZURE_STORAGE_ACCOUNT_NAME with
// AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN, and AZURE_STORAGE_BLOB_ENDPOINT.
struct AzureOptions {
  std::string account_name;
  std::string account_key;        // base64, as the portal shows it (Shared Key signing)
  std::string sas_token;          // "sv=...&sig=..." (a leading '?' is dropped)
  std::string connection_string;  // AccountName=...;AccountKey=...;BlobEndpoint=...
  // "http://127.0.0.1:10000/devstoreaccount1" (Azurite) or a sovereign cloud's blob endpoint;
  // empty = https://ACCOUNT.blob.core.windows.net.
  std::string endpoint_url;
  bool anonymous = false;  // unsigned requests, for public containers
  // Most blobs asked for per List Blobs request (Azure's maximum is 5000); tests lower it.
  std::size_t list_page_size = 5000;
};

struct UnderStoreOptions {
  S3Options s3;
  AzureOptions azure;
  // GCS (gs://) through its S3-compatible XML API with HMAC keys. Empty fields fall back to
  // GS_HMAC_ACCESS_KEY_ID / GS_HMAC_SECRET (never to AWS credentials), the endpoint to
  // https://storage.googleapis.com, the region to "auto"; requests are always path-style.
  S3Options gcs;
  std::chrono::milliseconds connect_timeout{3000};
  // Deadline of one request, and of all the attempts of one operation together.
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds operation_deadline{60000};
  int max_attempts = 5;
};

// Opens the under store named by `root_uri`: "file:///data" (or a plain absolute path) for a
// local directory, "s3://bucket[/prefix]" for S3, "http(s)://host[/prefix]" for plain HTTP
// (the in-memory twin, MemoryUnderStore, is for tests and is constructed directly). Only paths
// inside the root are served. Every store first checks each path with CheckUnderPath
// (common/path_rules.h: no empty, "." or ".." segment, no
// '?', '#' or control character), then that it lies under the root, and then sends or opens
// exactly the checked path: anything else (including "../" escapes in any spelling, symlinks
// out of the root, redirects a store does not follow) is PermissionDenied. Credentials in a
// root URI ("http://user:pass@host/prefix") never appear in a Status message.
Result<std::unique_ptr<UnderStore>> OpenUnderStore(std::string_view root_uri,
                                                   const UnderStoreOptions& options = {});

}  // namespace epochcache
