#include "epochcache/status.h"

#include <array>

namespace epochcache {
namespace {

struct CodeName {
  StatusCode code;
  std::string_view name;
};

constexpr std::array kCodeNames = {
    CodeName{StatusCode::kOk, "ok"},
    CodeName{StatusCode::kNotFound, "not_found"},
    CodeName{StatusCode::kInvalidArgument, "invalid_argument"},
    CodeName{StatusCode::kPermissionDenied, "permission_denied"},
    CodeName{StatusCode::kTimeout, "timeout"},
    CodeName{StatusCode::kUnavailable, "unavailable"},
    CodeName{StatusCode::kIoError, "io_error"},
    CodeName{StatusCode::kChecksumError, "checksum_error"},
    CodeName{StatusCode::kRejected, "rejected"},
    CodeName{StatusCode::kChanged, "changed"},
    CodeName{StatusCode::kInternal, "internal"},
    CodeName{StatusCode::kUnauthenticated, "unauthenticated"},
    CodeName{StatusCode::kCancelled, "cancelled"},
};

}  // namespace

std::string_view StatusCodeName(StatusCode code) {
  for (const auto& entry : kCodeNames) {
    if (entry.code == code) return entry.name;
  }
  return "internal";
}

StatusCode StatusCodeFromName(std::string_view name) {
  for (const auto& entry : kCodeNames) {
    if (entry.name == name) return entry.code;
  }
  return StatusCode::kInternal;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return {code_, std::move(msg)};
}

}  // namespace epochcache
