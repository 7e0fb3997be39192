// What every under store's paged listing shares: where a start_after falls among the entries
// of one directory, the limit rules, the page of a listing held whole, and the frame of an
// object store's ListAfter and of its Stat for a "directory" (a prefix other names share).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/curl_http.h"
#include "epochcache/under_store.h"

namespace epochcache {

// Where `start_after` falls among entries whose paths all begin with `dir_prefix` (the listed
// directory's path followed by "/").
struct StartPoint {
  enum Kind { kAll, kAfter, kNone };
  Kind kind = kAll;
  // For kAfter: the part of start_after past dir_prefix (never empty); an entry whose path is
  // dir_prefix + R comes after start_after exactly when R > rest.
  std::string_view rest;
};
StartPoint LocateStart(std::string_view dir_prefix, std::string_view start_after);

// InvalidArgument for a limit of 0.
Status CheckListLimit(std::size_t limit);

// limit + 1 (one entry more than a page, to know whether more follow), saturating at kNoLimit.
std::size_t OnePastLimit(std::size_t limit);

// The page of a listing held whole: sorted by path, entries after `start_after`, at most
// `limit`.
ListPage SliceListing(std::vector<FileStatus> all, std::string_view start_after, std::size_t limit);

// A directory of an object store as its listing sees it.
struct ListedDirectory {
  std::string uri;     // the directory's own URI, for messages
  std::string prefix;  // the name prefix of its entries in the store: "" at the root, else "dir/"
  std::string base;    // the path every entry starts with: the root's URI + "/" + prefix
  [[nodiscard]] bool root() const { return prefix.empty(); }
};
// `root_uri` is the bucket's (or container's) URI without a trailing '/', `key` the directory's
// name in it; trailing '/'s of the key are ignored.
ListedDirectory MakeListedDirectory(const std::string& root_uri, std::string_view key);

// What an object store does for its ListAfter; ListObjectStore does the rest.
struct ListCalls {
  using Page =
      std::function<Result<ListPage>(const ListedDirectory&, std::string_view, std::size_t)>;
  std::function<Result<ListedDirectory>()> resolve;
  Page recursive_page;  // entries after start_after, at most limit, in path order
  Page directory_page;  // the same for the directory's own entries only
  // The listed path's status, asked when a page is empty: the directory may have been listed
  // to its end, or be a file, or nothing.
  std::function<Result<FileStatus>()> stat;
  // Whether an empty page of the root is checked too (an S3 bucket's listing already fails for
  // a missing bucket, so S3 does not ask again).
  bool stat_empty_root = true;
};

// ListAfter of an object store: the limit rule, no request when start_after follows every
// entry, and NotFound "is a file" for an empty page of a path that is not a directory.
Result<ListPage> ListObjectStore(const ListCalls& calls, bool recursive,
                                 std::string_view start_after, std::size_t limit);

// Stat of an object store's root from the answer to its HEAD: a directory for 200, NotFound
// naming `what` ("bucket b") for 404, `error` for any other answer.
Result<FileStatus> RootStatus(const HttpResponse& head, const std::string& uri,
                              std::string_view what, const std::function<Status()>& error);

// Stat of a name from the answer to its HEAD: for 200 the object (size, ETag, and `mtime_ns`
// read from Last-Modified by the store); for 404 a "directory" when `any_under` finds an
// entry under uri + "/", else NotFound; `error` for any other answer.
Result<FileStatus> ObjectStatus(const HttpResponse& head, const std::string& uri,
                                std::int64_t mtime_ns, const std::function<Status()>& error,
                                const std::function<Result<bool>()>& any_under);

}  // namespace epochcache
