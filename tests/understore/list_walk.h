// Lists a directory of any under store page by page, as a client of /v1/list does.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "epochcache/under_store.h"

namespace epochcache::testing {

// Every entry of `path`, `limit` at a time; each page must stay within the limit and, while
// more follow, hold at least one entry.
inline std::vector<FileStatus> WalkPages(UnderStore& store, const std::string& path, bool recursive,
                                         std::size_t limit) {
  std::vector<FileStatus> all;
  std::string after;
  for (int pages = 0; pages < 100000; ++pages) {
    auto page = store.ListAfter(path, recursive, after, limit);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    EXPECT_LE(page->entries.size(), limit);
    all.insert(all.end(), page->entries.begin(), page->entries.end());
    if (!page->more) break;
    EXPECT_FALSE(page->entries.empty()) << "a page with more to come must not be empty";
    if (page->entries.empty()) break;
    after = page->entries.back().path;
  }
  return all;
}

inline std::vector<std::string> PathsOf(const std::vector<FileStatus>& entries) {
  std::vector<std::string> paths;
  paths.reserve(entries.size());
  for (const auto& e : entries) paths.push_back(e.path);
  return paths;
}

}  // namespace epochcache::testing
