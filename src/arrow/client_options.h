// ClientOptions from (name, text value) pairs: what the Python module passes (it builds the
// same option names as the fsspec filesystem's native client takes, see
// python/epochcache/arrow.py) and what an "epochcache://...?name=value" URI carries.
#pragma once

#include <string_view>

#include "epochcache/client.h"
#include "epochcache/status.h"

namespace epochcache::arrowfs {

// Sets one option. Lists (worker_hosts, etcd_endpoints) are comma-separated; seed_workers is
// "id=address" pairs separated by commas; durations are seconds; booleans "1"/"0" or
// "true"/"false". Unknown names and malformed values are invalid_argument naming the option
// (never its value: auth_token and the s3 credentials are secrets).
Status SetClientOption(ClientOptions& options, std::string_view name, std::string_view value);

// Applies what depends on several options (the direct reads' timeouts follow the client's),
// once every option is set.
void FinishClientOptions(ClientOptions& options);

}  // namespace epochcache::arrowfs
