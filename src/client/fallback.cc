#include "client/fallback.h"

#include <fmt/format.h>

#include <utility>

namespace epochcache::client {
namespace {

// "s3://" -> true; "s3://bucket", "/", "file:///x" -> false.
bool IsPerAuthority(std::string_view root) {
  const auto sep = root.find("://");
  return sep != std::string_view::npos && sep + 3 == root.size() && !root.starts_with("file");
}

}  // namespace

Result<std::unique_ptr<FallbackStores>> FallbackStores::Create(std::string root,
                                                               const UnderStoreOptions& options,
                                                               std::shared_ptr<UnderStore> fixed) {
  if (!fixed && !IsPerAuthority(root)) {
    auto store = OpenUnderStore(root, options);
    if (!store.ok()) return store.status().WithContext("opening the fallback under store");
    fixed = std::move(store).value();
  }
  return std::unique_ptr<FallbackStores>(
      new FallbackStores(std::move(root), options, std::move(fixed)));
}

Result<std::shared_ptr<UnderStore>> FallbackStores::For(std::string_view path) {
  if (fixed_) return fixed_;
  // root_ is "scheme://": the store for a path is scheme://authority of that path.
  if (!path.starts_with(root_)) {
    return Status::PermissionDenied(
        fmt::format("{} is not served by the fallback under store {}", path, root_));
  }
  const std::string_view rest = path.substr(root_.size());
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) {
    return Status::InvalidArgument(fmt::format("{} names no bucket or host", path));
  }
  std::string key = root_ + std::string(authority);
  std::lock_guard lock(mu_);
  if (auto it = by_root_.find(key); it != by_root_.end()) return it->second;
  auto store = OpenUnderStore(key, options_);
  if (!store.ok()) return store.status().WithContext("opening the fallback under store");
  std::shared_ptr<UnderStore> shared = std::move(store).value();
  by_root_.emplace(std::move(key), shared);
  return shared;
}

}  // namespace epochcache::client
