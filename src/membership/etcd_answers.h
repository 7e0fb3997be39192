// Parsing of the JSON answers of etcd's v3 gateway, kept free of I/O so that every malformed
// answer (wrong types, missing fields, out-of-range numbers, bad base64, truncated text) can be
// tested and fuzzed directly. Nothing here throws: a bad answer is a Status, which the caller
// prefixes with the endpoint that sent it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

// /v3/lease/grant → the new lease's ID (positive).
Result<std::int64_t> ParseEtcdLeaseGrant(std::string_view body);

// /v3/lease/keepalive (a stream: the first line counts) → the remaining TTL in seconds;
// 0 (also when etcd leaves the field out) means the lease no longer exists.
Result<std::int64_t> ParseEtcdKeepAlive(std::string_view body);

// /v3/kv/range → the key-value pairs, base64-decoded, in the order etcd sent them.
Result<std::vector<std::pair<std::string, std::string>>> ParseEtcdRange(std::string_view body);

}  // namespace epochcache
