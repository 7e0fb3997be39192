// How a Status travels as an HTTP status, both ways, from one table (status_http.cc).
//
// Several codes share an HTTP status; reading it back gives the first code of the table with
// that status, the documented equivalent: 503 is kUnavailable (also kRejected, kCancelled: the
// worker declined or gave up, another worker may not), 500 is kInternal (also kChecksumError,
// which a worker recovers from itself and so never answers). An error body names its exact code
// (error_json.h), which wins over the HTTP status when present.
#pragma once

#include <string_view>

#include "epochcache/status.h"

namespace epochcache::protocol {

// The HTTP status of a reply carrying `code` (200 for kOk).
unsigned HttpStatusFor(StatusCode code);

// The code an HTTP status stands for when no error body names one. 416 (a range starting past
// the end of the file: the file shrank after the client learned its size) is kChanged; any other
// status not in the table is kIoError (the worker answered, but not in this protocol).
StatusCode StatusCodeForHttp(unsigned http_status);

// An overloaded worker's refusal: 503 with `Retry-After: 1` and a message "worker busy: ...".
// `what` names the limit that was reached.
Status WorkerBusy(std::string_view what);
// Whether `status` is such a refusal (its reply then carries `Retry-After: 1`).
bool IsWorkerBusy(const Status& status);

}  // namespace epochcache::protocol
