// The one path rule of the Arrow filesystem, the same as the fsspec filesystem's
// (python/epochcache/filesystem.py): paths are the under store's own, with or without a scheme.
// For a "file" target "/data/x", "file:///data/x", "epochcache:///data/x" and
// "epochcache::file:///data/x" name one file; for "s3" "s3://bucket/k", "bucket/k" (what Ray
// and pyarrow pass after stripping the scheme) and "epochcache://bucket/k". A path of another
// scheme is refused (an s3:// path given to a file target is a mistake, not the local file
// "/bucket/k"). Names returned to Arrow are scheme-less, as LocalFileSystem and S3FileSystem
// return them.
#pragma once

#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::arrowfs {

// The canonical name of a supported protocol ("s3a" -> "s3", "local" -> "file"), or
// invalid_argument naming the supported ones.
Result<std::string> CanonicalProtocol(std::string_view protocol);

class TargetPaths {
 public:
  // REQUIRES: `protocol` is canonical (CanonicalProtocol).
  explicit TargetPaths(std::string protocol) : protocol_(std::move(protocol)) {}

  [[nodiscard]] const std::string& protocol() const { return protocol_; }

  // The scheme-less name of `path` (a "file" name always starts with "/"), or invalid_argument
  // for a path of another scheme.
  [[nodiscard]] Result<std::string> Name(std::string_view path) const;
  // The URI the native client and the workers expect for a name.
  [[nodiscard]] std::string Uri(std::string_view name) const;

 private:
  std::string protocol_;
};

}  // namespace epochcache::arrowfs
