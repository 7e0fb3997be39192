// The Client implementation, put together from its parts by Client::Create (client.cc).
#pragma once

#include <memory>

#include "client/fallback.h"
#include "client/http_pool.h"
#include "common/clock.h"
#include "epochcache/client.h"

namespace epochcache::client {

// REQUIRES: `options` were checked; `clock` outlives the client.
std::unique_ptr<Client> MakeClientImpl(ClientOptions options, Clock& clock,
                                       std::unique_ptr<MembershipView> membership,
                                       std::unique_ptr<FallbackStores> fallback,
                                       std::unique_ptr<HttpPool> pool);

}  // namespace epochcache::client
