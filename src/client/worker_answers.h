// What a worker's answers mean to this client. The protocol itself (status table, error bodies,
// FileStatus and list-page JSON) is decoded by src/protocol; this adds what only the client
// knows: which worker answered, for which path, and whether it presented a token.
#pragma once

#include <string_view>

#include "epochcache/status.h"
#include "epochcache/under_store.h"
#include "protocol/file_status_json.h"
#include "protocol/status_http.h"

namespace epochcache::client {

// The Status a worker's non-success answer stands for (protocol::DecodeError), its messages
// naming `path` and `host`. `sent_token` says whether a token was presented, for the message of
// a 401 (which never shows the token).
Status ErrorFromAnswer(unsigned http_status, std::string_view body, std::string_view host,
                       std::string_view path, bool sent_token);

// The protocol's decoders under the names tests/client/parts_test.cc uses.
inline StatusCode CodeForHttpStatus(unsigned http_status) {
  return protocol::StatusCodeForHttp(http_status);
}
inline Result<FileStatus> ParseFileStatus(std::string_view body) {
  return protocol::DecodeFileStatus(body);
}
inline Result<protocol::ListPage> ParseListPage(std::string_view body) {
  return protocol::DecodeListPage(body);
}

}  // namespace epochcache::client
