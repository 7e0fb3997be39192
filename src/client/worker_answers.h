// What a worker's error answers mean to this client. The protocol itself (status table, error
// bodies, FileStatus and list-page JSON) is decoded by src/protocol, which the client calls
// directly; this adds what only the client knows: which worker answered, for which path, and
// whether it presented a token.
#pragma once

#include <string_view>

#include "epochcache/status.h"

namespace epochcache::client {

// The Status a worker's non-success answer stands for (protocol::DecodeError), its messages
// naming `path` and `host`. `sent_token` says whether a token was presented, for the message of
// a 401 (which never shows the token).
Status ErrorFromAnswer(unsigned http_status, std::string_view body, std::string_view host,
                       std::string_view path, bool sent_token);

}  // namespace epochcache::client
