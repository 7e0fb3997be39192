#include "understore/remote_errors.h"

#include <fmt/format.h>

namespace epochcache {

bool IsHttpRedirect(std::int64_t status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

Status RemoteErrorStatus(std::int64_t http_status, const RemoteAnswer& a) {
  if (IsHttpRedirect(http_status)) {
    return Status::IoError(
        fmt::format("{}: {} redirected the request ({}); redirects are not "
                    "followed{}",
                    a.uri, a.endpoint, a.detail, a.redirect_hint));
  }
  switch (http_status) {
    case 404:
      return Status::NotFound(fmt::format("{} does not exist", a.uri));
    case 401:
    case 403:
      return Status::PermissionDenied(fmt::format("{}: access denied by {} with {} ({})", a.uri,
                                                  a.endpoint, a.credentials, a.detail));
    case 400:
      return Status::InvalidArgument(fmt::format("{}: {}", a.uri, a.detail));
    case 412:
      return Status::Changed(fmt::format("{} changed while being read", a.uri));
    default:
      if (http_status >= 500 || http_status == 429) {
        return Status::Unavailable(fmt::format("{}: {} answered {}", a.uri, a.endpoint, a.detail));
      }
      return Status::IoError(
          fmt::format("{}: unexpected answer from {}: {}", a.uri, a.endpoint, a.detail));
  }
}

Status WithoutSecrets(const Status& status, std::initializer_list<std::string_view> secrets) {
  std::string message(status.message());
  for (const std::string_view secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at)) {
      message.replace(at, secret.size(), "***");
    }
  }
  return {status.code(), std::move(message)};
}

}  // namespace epochcache
