// One table from a remote store's HTTP error answer to a Status, and the scrubbing of secrets
// from what is said about it, for every store that signs requests (S3, GCS, Azure): the same
// answer means the same thing to the caller whichever store gave it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache {

// Whether an HTTP status is a redirect (which signed stores never follow).
bool IsHttpRedirect(std::int64_t status);

// What a message about one error answer names.
struct RemoteAnswer {
  std::string_view uri;                 // the object or listing asked for
  std::string_view endpoint;            // the server, user info already redacted
  std::string_view credentials;         // e.g. "environment credentials", said on 401/403
  std::string_view detail;              // e.g. "HTTP 403 AccessDenied: ...", nothing secret
  std::string_view redirect_hint = {};  // appended to a refused redirect, e.g. the right region
};

// Redirect: io_error (not followed); 404 not_found; 401/403 permission_denied; 400
// invalid_argument; 412 changed; 429 and 5xx unavailable (retryable); anything else io_error.
// A store that knows more about a 404 (no such bucket) says so before asking this.
Status RemoteErrorStatus(std::int64_t http_status, const RemoteAnswer& answer);

// `status` with every non-empty secret in its message replaced by "***".
Status WithoutSecrets(const Status& status, std::initializer_list<std::string_view> secrets);

}  // namespace epochcache
