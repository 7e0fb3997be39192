#include "arrow/target_paths.h"

#include <array>
#include <cctype>
#include <utility>

namespace epochcache::arrowfs {
namespace {

// The under stores workers read (src/understore/open_under_store.cc), and their aliases.
constexpr std::array<std::string_view, 7> kSupported = {"file", "s3", "http", "https",
                                                        "az",   "gs", "hf"};
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kAliases = {{
    {"local", "file"},
    {"s3a", "s3"},
    {"gcs", "gs"},
    {"abfs", "az"},
    {"abfss", "az"},
}};

// Length of a leading "scheme://" (RFC 3986 scheme), or 0.
std::size_t SchemeLength(std::string_view path) {
  if (path.empty() || std::isalpha(static_cast<unsigned char>(path[0])) == 0) return 0;
  std::size_t i = 1;
  while (i < path.size()) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (std::isalnum(c) == 0 && c != '+' && c != '.' && c != '-') break;
    ++i;
  }
  return path.substr(i).starts_with("://") ? i : 0;
}

// Drops trailing slashes, keeping a lone "/".
std::string_view RstripSlashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

}  // namespace

Result<std::string> CanonicalProtocol(std::string_view protocol) {
  std::string lower(protocol);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [alias, name] : kAliases) {
    if (lower == alias) lower = name;
  }
  for (std::string_view name : kSupported) {
    if (lower == name) return lower;
  }
  return Status::InvalidArgument(
      "epochcache: unsupported protocol '" + std::string(protocol) +
      "'; supported: abfs, abfss, az, file, gcs, gs, hf, http, https, local, s3, s3a");
}

Result<std::string> TargetPaths::Name(std::string_view path) const {
  if (path.starts_with("epochcache::")) path.remove_prefix(std::string_view("epochcache::").size());
  if (path.starts_with("epochcache://")) {
    path.remove_prefix(std::string_view("epochcache://").size());
  }
  std::string name;
  if (const std::size_t scheme = SchemeLength(path); scheme > 0) {
    const std::string_view given = path.substr(0, scheme);
    auto canonical = CanonicalProtocol(given);
    if (!canonical.ok() || *canonical != protocol_) {
      std::string shown(path);
      // Never echo user info (a key in "s3://key:secret@host/...").
      if (const auto at = shown.find('@'); at != std::string::npos) {
        const auto slash = shown.find('/', scheme + 3);
        if (slash == std::string::npos || at < slash) {
          shown.replace(scheme + 3, at - scheme - 3, "***");
        }
      }
      return Status::InvalidArgument("epochcache: '" + shown + "' is a " + std::string(given) +
                                     ":// path, but this filesystem reads " + protocol_ +
                                     ":// storage (target_protocol='" + protocol_ +
                                     "'); pass a path of that scheme or without one");
    }
    name = RstripSlashes(path.substr(scheme + 3));
  } else {
    name = RstripSlashes(path);
  }
  if (protocol_ == "file" && !name.starts_with('/')) name.insert(0, "/");
  return name;
}

std::string TargetPaths::Uri(std::string_view name) const {
  if (protocol_ == "file") return std::string(name);
  return protocol_ + "://" + std::string(name);
}

}  // namespace epochcache::arrowfs
