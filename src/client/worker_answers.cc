#include "client/worker_answers.h"

#include <fmt/format.h>

#include "protocol/error_json.h"

namespace epochcache::client {

Status ErrorFromAnswer(unsigned http_status, std::string_view body, std::string_view host,
                       std::string_view path, bool sent_token) {
  Status decoded =
      protocol::DecodeError(http_status, body, fmt::format("{}: worker {}", path, host));
  if (http_status == 401) {
    // The worker's message never echoes the token, and neither does this one.
    return Status::Unauthenticated(fmt::format(
        "{}: worker {} refused the request (HTTP 401 unauthenticated): {} ({})", path, host,
        sent_token ? "the auth token given was not accepted"
                   : "it requires an auth token and none was given",
        protocol::Snippet(decoded.message())));
  }
  return decoded;
}

}  // namespace epochcache::client
