// The protocol's percent encoding (src/protocol/percent.h) under the name
// tests/client/client_test.cc uses.
#pragma once

#include <string>
#include <string_view>

#include "protocol/percent.h"

namespace epochcache::client {

inline std::string PercentEncodeQueryComponent(std::string_view in) {
  return protocol::PercentEncode(in);
}

}  // namespace epochcache::client
