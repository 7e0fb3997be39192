// The local-filesystem under store: a directory tree (a mounted NFS share, a dataset copied to
// disk, or the embedded default of a single-node setup).
//
// Paths are absolute ("/data/x") or file URIs ("file:///data/x"). Only paths inside the root are
// served: "../" escapes and symlinks that resolve outside the root are PermissionDenied.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "epochcache/under_store.h"

namespace epochcache {

class LocalUnderStore final : public UnderStore {
 public:
  // REQUIRES: `root` is an existing directory (checked by Open).
  static Result<std::unique_ptr<LocalUnderStore>> Open(std::string_view root);

  [[nodiscard]] std::string_view Scheme() const override { return "file"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

 private:
  explicit LocalUnderStore(std::filesystem::path root) : root_(std::move(root)) {}

  // The resolved absolute path for `path`, or PermissionDenied if it is outside the root.
  Result<std::filesystem::path> Resolve(std::string_view path) const;

  std::filesystem::path root_;  // canonical, no trailing slash
};

}  // namespace epochcache
