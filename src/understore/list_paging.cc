#include "understore/list_paging.h"

#include <algorithm>
#include <iterator>

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

}  // namespace epochcache
