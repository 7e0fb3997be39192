// MakeEtcdView with the clock its refreshes wait on (the client passes its own; tests a manual
// one).
#pragma once

#include <chrono>
#include <memory>

#include "common/clock.h"
#include "epochcache/membership.h"

namespace epochcache {

Result<std::unique_ptr<MembershipView>> MakeEtcdView(const EtcdOptions& options,
                                                     std::chrono::milliseconds refresh,
                                                     Clock& clock);

}  // namespace epochcache
