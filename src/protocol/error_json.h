// The body of every error answer: {"error": "<status code name>", "message": "..."}.
#pragma once

#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::protocol {

std::string EncodeError(const Status& status);

// The Status an error answer with `http_status` and `body` stands for: the code and message the
// body names, or, when it names no code this protocol knows (another server, a proxy's page),
// the code of the HTTP status (status_http.h) and "<who> answered HTTP <status>: <start of the
// body>". A 416 is always kChanged: the worker found the range past the end of the file, which
// the client sized from an earlier status, so the file shrank. Never OK.
Status DecodeError(unsigned http_status, std::string_view body,
                   std::string_view who = "the worker");

// The first 200 bytes of untrusted `text` (an answer's body, a cursor), marked when cut, for
// quoting in a message.
std::string Snippet(std::string_view text);

}  // namespace epochcache::protocol
