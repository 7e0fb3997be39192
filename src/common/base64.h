// Base64 (RFC 4648, with padding), as etcd's JSON gateway encodes keys and values.
#pragma once

#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache {

std::string Base64Encode(std::string_view data);
// InvalidArgument when `text` is not the canonical padded base64 of some bytes (misplaced
// '=', stray bits under the padding, characters outside the alphabet).
Result<std::string> Base64Decode(std::string_view text);

}  // namespace epochcache
