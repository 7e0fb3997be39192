#include "arrow/status_map.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <string>

namespace epochcache::arrowfs {

arrow::Status ToArrow(const Status& status) {
  if (status.ok()) return arrow::Status::OK();
  const std::string& msg = status.message();
  switch (status.code()) {
    case StatusCode::kNotFound:
      return arrow::internal::IOErrorFromErrno(ENOENT, msg);
    case StatusCode::kPermissionDenied:
      return arrow::internal::IOErrorFromErrno(EACCES, msg);
    case StatusCode::kUnauthenticated:
      return arrow::internal::IOErrorFromErrno(
          EACCES, msg.find("TLS verification") != std::string::npos
                      ? msg
                      : msg +
                            "; pass auth_token= or set the environment variable "
                            "EPOCHCACHE_AUTH_TOKEN to the token the workers were started with "
                            "(--auth-token-file)");
    case StatusCode::kInvalidArgument:
      return arrow::Status::Invalid(msg);
    case StatusCode::kTimeout:
      return arrow::internal::IOErrorFromErrno(ETIMEDOUT, msg);
    case StatusCode::kUnavailable:
      // ConnectionError in Python, as the fsspec filesystem raises.
      return arrow::internal::IOErrorFromErrno(ECONNABORTED, msg);
    case StatusCode::kCancelled:
      return arrow::Status::Cancelled(msg);
    default:
      return arrow::Status::IOError(status.ToString());
  }
}

arrow::Status ReadOnly(const char* operation) {
  return arrow::Status::NotImplemented("epochcache is a read-only filesystem: ", operation,
                                       " is not supported");
}

}  // namespace epochcache::arrowfs
