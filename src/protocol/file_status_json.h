// The JSON of /v1/stat answers and /v1/list pages (docs/api.md), both ways:
//   stat: {"path", "type": "file"|"directory", "size", "mtime_ns", "version"}
//   list: {"path": <listed path>, "entries": [<stat objects>], "next_start_after"?: "..."}
// Decoding never throws; a malformed document is IoError naming the member that was wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::protocol {

std::string EncodeFileStatus(const FileStatus& status);
// "path" and "type" are required, "size" too for a file; "mtime_ns" and "version" default to
// 0 and "" when absent. A member of the wrong type is an error, never a default.
Result<FileStatus> DecodeFileStatus(std::string_view json);

struct ListPage {
  std::string path;  // the listed path, as requested
  std::vector<FileStatus> entries;
  // The path of the last entry, present only when more entries follow (then never empty).
  std::optional<std::string> next_start_after;
};

std::string EncodeListPage(const ListPage& page);
Result<ListPage> DecodeListPage(std::string_view json);

}  // namespace epochcache::protocol
