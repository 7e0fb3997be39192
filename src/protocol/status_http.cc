#include "protocol/status_http.h"

#include <array>
#include <string>

namespace epochcache::protocol {
namespace {

struct CodeHttp {
  StatusCode code;
  unsigned http;
};

// The one table. For an HTTP status shared by several codes, the first row is what the status
// reads back as (status_http.h); the test checks that every code has a row.
constexpr std::array kTable = {
    CodeHttp{StatusCode::kOk, 200},
    CodeHttp{StatusCode::kInvalidArgument, 400},
    CodeHttp{StatusCode::kUnauthenticated, 401},
    CodeHttp{StatusCode::kPermissionDenied, 403},
    CodeHttp{StatusCode::kNotFound, 404},
    CodeHttp{StatusCode::kChanged, 409},
    CodeHttp{StatusCode::kInternal, 500},
    CodeHttp{StatusCode::kChecksumError, 500},
    CodeHttp{StatusCode::kIoError, 502},
    CodeHttp{StatusCode::kUnavailable, 503},
    CodeHttp{StatusCode::kRejected, 503},
    CodeHttp{StatusCode::kCancelled, 503},
    CodeHttp{StatusCode::kTimeout, 504},
};

constexpr unsigned kRangeNotSatisfiable = 416;
constexpr std::string_view kWorkerBusy = "worker busy: ";

}  // namespace

unsigned HttpStatusFor(StatusCode code) {
  for (const auto& row : kTable) {
    if (row.code == code) return row.http;
  }
  return 500;  // unreachable while every code has a row
}

StatusCode StatusCodeForHttp(unsigned http_status) {
  if (http_status == kRangeNotSatisfiable) return StatusCode::kChanged;
  for (const auto& row : kTable) {
    if (row.http == http_status) return row.code;
  }
  return StatusCode::kIoError;
}

Status WorkerBusy(std::string_view what) {
  return Status::Unavailable(std::string(kWorkerBusy) + std::string(what));
}

bool IsWorkerBusy(const Status& status) {
  return status.code() == StatusCode::kUnavailable && status.message().starts_with(kWorkerBusy);
}

}  // namespace epochcache::protocol
