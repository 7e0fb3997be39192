#include "client/content_range.h"

#include <charconv>
#include <system_error>

namespace epochcache::client {

std::optional<ContentRange> ParseContentRange(std::string_view v) {
  if (!v.starts_with("bytes ")) return std::nullopt;
  v.remove_prefix(6);
  const auto parse = [&v](std::uint64_t* out, char stop) {
    const char* end = v.data() + v.size();
    auto [p, ec] = std::from_chars(v.data(), end, *out);
    if (ec != std::errc() || p == v.data()) return false;
    v.remove_prefix(static_cast<std::size_t>(p - v.data()));
    if (stop == '\0') return v.empty();
    if (v.empty() || v.front() != stop) return false;
    v.remove_prefix(1);
    return true;
  };
  ContentRange r;
  if (parse(&r.first, '-') && parse(&r.last, '/') && parse(&r.size, '\0')) return r;
  return std::nullopt;
}

}  // namespace epochcache::client
