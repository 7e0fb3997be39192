// How every JSON document of the protocol is written and read (for the encoders and decoders
// of src/protocol, and the worker's /v1/stats).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace epochcache::protocol {

// Paths are arbitrary bytes: invalid UTF-8 is replaced (U+FFFD) rather than thrown on.
inline std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses without exceptions; a discarded (malformed) document comes back as such.
inline nlohmann::json ParseJson(std::string_view text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace epochcache::protocol
