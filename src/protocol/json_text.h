// Internal to src/protocol: serialising a document the same way in every encoder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace epochcache::protocol::internal {

// Paths are arbitrary bytes: invalid UTF-8 is replaced (U+FFFD) rather than thrown on.
inline std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses without exceptions; a discarded (malformed) document comes back as such.
inline nlohmann::json Parse(std::string_view text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace epochcache::protocol::internal
