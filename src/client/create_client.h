// Client::Create with the time source injected: tests pass a manual clock
// (tests/support/manual_clock.h) to step the metadata cache and the breakers.
#pragma once

#include <memory>

#include "common/clock.h"
#include "epochcache/client.h"

namespace epochcache::client {

// REQUIRES: `clock` outlives the client.
Result<std::unique_ptr<Client>> CreateClient(ClientOptions options, Clock& clock);

}  // namespace epochcache::client
