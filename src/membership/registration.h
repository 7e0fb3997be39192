// WorkerRegistration::Start with the clock its renewals wait on (tests pass a manual clock).
#pragma once

#include <memory>

#include "common/clock.h"
#include "epochcache/membership.h"

namespace epochcache {

Result<std::unique_ptr<WorkerRegistration>> StartRegistration(EtcdOptions options,
                                                              WorkerRecord record, Clock& clock);

}  // namespace epochcache
