// What a worker's answers mean to a client: HTTP status to Status, error bodies, FileStatus
// JSON and /v1/list pages. Pure functions over (status, body) with no I/O and no Beast, so that
// they can move into a protocol module shared with the worker.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::client {

// The first 200 bytes of `text`, marked when cut: untrusted text quoted in a message.
std::string Snippet(std::string_view text);

// The code a bare HTTP status stands for when the body carries no {"error": ...}.
StatusCode CodeForHttpStatus(unsigned http_status);

// The Status a worker's non-success answer stands for: its JSON {"error","message"} when
// present. `sent_token` says whether a token was presented, for the message of a 401 (which
// never shows the token).
Status ErrorFromAnswer(unsigned http_status, std::string_view body, std::string_view host,
                       std::string_view path, bool sent_token);

// A /v1/stat body.
Result<FileStatus> ParseFileStatus(std::string_view body);

struct ListPage {
  std::vector<FileStatus> entries;
  // The cursor for the next page; absent on the last page.
  std::optional<std::string> next_start_after;
};
// A /v1/list body.
Result<ListPage> ParseListPage(std::string_view body);

}  // namespace epochcache::client
