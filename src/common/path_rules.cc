#include "common/path_rules.h"

#include <fmt/format.h>

namespace epochcache {
namespace {

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

Status Refuse(std::string_view uri, std::string_view why) {
  // The URI may hold control characters: show it escaped so a log line stays one line.
  std::string shown;
  for (const char c : uri) {
    if (IsControl(c)) {
      shown += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      shown += c;
    }
  }
  return Status::PermissionDenied(fmt::format("refused path '{}': it {}", shown, why));
}

}  // namespace

Status CheckUnderPath(std::string_view uri) {
  for (const char c : uri) {
    if (IsControl(c)) return Refuse(uri, "contains a control character");
  }
  std::string_view path = uri;
  if (const auto scheme_end = uri.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view rest = uri.substr(scheme_end + 3);
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    if (authority.find_first_of("?#@\\") != std::string_view::npos) {
      return Refuse(uri, "has '?', '#', '@' or '\\' in its host or bucket");
    }
    path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return Refuse(uri, "contains '?' or '#'");
  }
  if (path.empty()) return Status::Ok();
  if (path.front() != '/') return Refuse(uri, "is not absolute");
  path.remove_prefix(1);
  if (path.empty()) return Status::Ok();  // the root itself, "/" or "s3://bucket/"
  if (path.ends_with('/')) path.remove_suffix(1);
  while (true) {
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (segment.empty()) return Refuse(uri, "has an empty segment ('//')");
    if (segment == "." || segment == "..") {
      return Refuse(uri, fmt::format("has a '{}' segment", segment));
    }
    if (slash == std::string_view::npos) return Status::Ok();
    path.remove_prefix(slash + 1);
  }
}

}  // namespace epochcache
