// The parts of the UnderStore interface every store shares.
#include "epochcache/under_store.h"

#include "understore/list_paging.h"

namespace epochcache {

Result<ListPage> UnderStore::ListAfter(std::string_view path, bool recursive,
                                       std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckListLimit(limit));
  EC_ASSIGN_OR_RETURN(std::vector<FileStatus> all, List(path, recursive));
  return SliceListing(std::move(all), start_after, limit);
}

Result<std::vector<FileStatus>> UnderStore::ListAllPages(std::string_view path, bool recursive) {
  EC_ASSIGN_OR_RETURN(ListPage page, ListAfter(path, recursive, "", kNoLimit));
  return std::move(page.entries);
}

}  // namespace epochcache
