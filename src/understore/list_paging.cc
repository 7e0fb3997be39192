#include "understore/list_paging.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "understore/retrying_http.h"
#include "understore/s3_xml.h"

namespace epochcache {

StartPoint LocateStart(std::string_view dir_prefix, std::string_view start_after) {
  if (start_after.starts_with(dir_prefix) && start_after.size() > dir_prefix.size()) {
    return {StartPoint::kAfter, start_after.substr(dir_prefix.size())};
  }
  // Every entry's path starts with dir_prefix, so one shorter or smaller start_after precedes
  // them all, and a larger one that does not share the prefix follows them all.
  if (start_after <= dir_prefix) return {StartPoint::kAll, {}};
  return {StartPoint::kNone, {}};
}

Status CheckListLimit(std::size_t limit) {
  if (limit == 0) return Status::InvalidArgument("a listing page needs a limit of at least 1");
  return Status::Ok();
}

std::size_t OnePastLimit(std::size_t limit) {
  return limit == UnderStore::kNoLimit ? limit : limit + 1;
}

ListPage SliceListing(std::vector<FileStatus> all, std::string_view start_after,
                      std::size_t limit) {
  const auto by_path = [](const FileStatus& a, const FileStatus& b) { return a.path < b.path; };
  if (!std::is_sorted(all.begin(), all.end(), by_path)) {
    std::sort(all.begin(), all.end(), by_path);
  }
  auto first = all.begin();
  if (!start_after.empty()) {
    first =
        std::upper_bound(all.begin(), all.end(), start_after,
                         [](std::string_view key, const FileStatus& e) { return key < e.path; });
  }
  const auto available = static_cast<std::size_t>(std::distance(first, all.end()));
  const std::size_t count = std::min(available, limit);
  ListPage page;
  page.more = available > count;
  page.entries.assign(std::make_move_iterator(first),
                      std::make_move_iterator(first + static_cast<std::ptrdiff_t>(count)));
  return page;
}

ListedDirectory MakeListedDirectory(const std::string& root_uri, std::string_view key) {
  while (key.ends_with('/')) key.remove_suffix(1);
  if (key.empty()) return {root_uri, "", root_uri + "/"};
  std::string prefix = std::string(key) + "/";
  return {root_uri + "/" + std::string(key), prefix, root_uri + "/" + prefix};
}

Result<ListPage> ListObjectStore(const ListCalls& calls, bool recursive,
                                 std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckListLimit(limit));
  EC_ASSIGN_OR_RETURN(const ListedDirectory dir, calls.resolve());
  ListPage page;
  if (LocateStart(dir.base, start_after).kind != StartPoint::kNone) {
    const ListCalls::Page& fetch = recursive ? calls.recursive_page : calls.directory_page;
    EC_ASSIGN_OR_RETURN(page, fetch(dir, start_after, limit));
  }
  if (page.entries.empty() && (calls.stat_empty_root || !dir.root())) {
    EC_ASSIGN_OR_RETURN(const FileStatus st, calls.stat());
    if (!st.is_directory) {
      return Status::NotFound(fmt::format("{} is a file, not a directory", dir.uri));
    }
  }
  return page;
}

Result<FileStatus> RootStatus(const HttpResponse& head, const std::string& uri,
                              std::string_view what, const std::function<Status()>& error) {
  if (head.status == 404) return Status::NotFound(fmt::format("{}: {} does not exist", uri, what));
  if (head.status != 200) return error();
  return FileStatus{uri, true, 0, 0, ""};
}

Result<FileStatus> ObjectStatus(const HttpResponse& head, const std::string& uri,
                                std::int64_t mtime_ns, const std::function<Status()>& error,
                                const std::function<Result<bool>()>& any_under) {
  if (head.status == 200) {
    FileStatus st;
    st.path = uri;
    EC_ASSIGN_OR_RETURN(st.size, HeaderNumber(head, "content-length", uri, true));
    st.version = StripQuotes(HeaderValue(head, "etag"));
    st.mtime_ns = mtime_ns;
    return st;
  }
  if (head.status != 404) return error();
  // No such object: it may be a "directory", a prefix other names share.
  EC_ASSIGN_OR_RETURN(const bool found, any_under());
  if (!found) return Status::NotFound(fmt::format("{} does not exist", uri));
  return FileStatus{uri, true, 0, 0, ""};
}

}  // namespace epochcache
