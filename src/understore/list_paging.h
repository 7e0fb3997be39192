// What every under store's paged listing shares: where a start_after falls among the entries
// of one directory, the limit rules, and the page of a listing held whole.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

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

}  // namespace epochcache
