// epochcache Status -> arrow::Status, so that pyarrow raises the Python exception a caller
// expects: a missing path is FileNotFoundError (an IOError carrying errno ENOENT, which pyarrow
// turns into OSError(ENOENT)), a refusal PermissionError, a bad path ValueError.
#pragma once

#include <arrow/status.h>

#include "epochcache/status.h"

namespace epochcache::arrowfs {

arrow::Status ToArrow(const Status& status);

// The refusal every write, delete and move answers with.
arrow::Status ReadOnly(const char* operation);

}  // namespace epochcache::arrowfs
