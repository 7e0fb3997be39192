#include "understore/multi_root_under_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "common/path_rules.h"

namespace epochcache {
namespace {

constexpr std::string_view kFileScheme = "file://";

// [start, end) of the user information ("user:secret@") of `uri`, or {npos, npos}.
std::pair<std::size_t, std::size_t> UserInfoSpan(std::string_view uri) {
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return {std::string_view::npos, std::string_view::npos};
  const auto authority = scheme_end + 3;
  const auto authority_end = uri.find_first_of("/?#", authority);
  const auto at =
      uri.rfind('@', authority_end == std::string_view::npos ? uri.size() : authority_end);
  if (at == std::string_view::npos || at < authority) {
    return {std::string_view::npos, std::string_view::npos};
  }
  return {authority, at + 1};
}

std::string JoinRoots(const std::vector<std::string>& roots) {
  std::string out;
  for (const auto& root : roots) out += (out.empty() ? "" : ", ") + root;
  return out;
}

}  // namespace

Status CheckDistinctRoots(const std::vector<std::string_view>& uris) {
  if (uris.empty()) return Status::InvalidArgument("no under-store root given");
  for (std::size_t i = 0; i < uris.size(); ++i) {
    const std::string key = RoutingKey(uris[i]);
    for (std::size_t j = 0; j < i; ++j) {
      const std::string other = RoutingKey(uris[j]);
      if (key == other) {
        return Status::InvalidArgument(
            fmt::format("under-store root {} is given twice (also as {})", WithoutUserInfo(uris[i]),
                        WithoutUserInfo(uris[j])));
      }
      if (RootContains(key, other) || RootContains(other, key)) {
        return Status::InvalidArgument(fmt::format(
            "under-store roots {} and {} overlap: one lies inside the other, so which root's "
            "options serve a path would be ambiguous; give only the outer one",
            WithoutUserInfo(uris[j]), WithoutUserInfo(uris[i])));
      }
    }
  }
  return Status::Ok();
}

std::string WithoutUserInfo(std::string_view uri) {
  const auto [begin, end] = UserInfoSpan(uri);
  if (begin == std::string_view::npos) return std::string(uri);
  return std::string(uri.substr(0, begin)) + "***@" + std::string(uri.substr(end));
}

std::string RoutingKey(std::string_view uri) {
  std::string key;
  const auto [begin, end] = UserInfoSpan(uri);
  if (begin == std::string_view::npos) {
    key = std::string(uri);
  } else {
    key = std::string(uri.substr(0, begin)) + std::string(uri.substr(end));
  }
  if (std::string_view(key).starts_with(kFileScheme)) key.erase(0, kFileScheme.size());
  if (std::string_view(key).starts_with("s3a://")) key.replace(0, 6, "s3://");
  const auto scheme_end = key.find("://");
  const std::size_t keep = scheme_end == std::string::npos ? 1 : scheme_end + 3;
  while (key.size() > keep && key.back() == '/') key.pop_back();
  return key;
}

bool RootContains(std::string_view root_key, std::string_view path_key) {
  if (!path_key.starts_with(root_key)) return false;
  if (path_key.size() == root_key.size()) return true;
  return root_key.ends_with('/') || path_key[root_key.size()] == '/';
}

MultiRootUnderStore::MultiRootUnderStore(std::vector<Route> routes) : routes_(std::move(routes)) {
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const Route& a, const Route& b) { return a.key.size() > b.key.size(); });
  scheme_ = routes_.size() == 1 ? std::string(routes_.front().store->Scheme()) : "multi";
}

Result<std::unique_ptr<MultiRootUnderStore>> MultiRootUnderStore::Create(
    std::vector<UnderRoot> roots) {
  std::vector<std::string_view> uris;
  uris.reserve(roots.size());
  for (const auto& root : roots) uris.push_back(root.uri);
  EC_RETURN_IF_ERROR(CheckDistinctRoots(uris));
  std::vector<Route> routes;
  routes.reserve(roots.size());
  for (auto& root : roots) {
    if (root.store == nullptr) {
      return Status::InvalidArgument(
          fmt::format("under-store root {} has no store", WithoutUserInfo(root.uri)));
    }
    routes.push_back({RoutingKey(root.uri), WithoutUserInfo(root.uri), std::move(root.store)});
  }
  return std::unique_ptr<MultiRootUnderStore>(new MultiRootUnderStore(std::move(routes)));
}

Result<std::unique_ptr<MultiRootUnderStore>> MultiRootUnderStore::Open(
    const std::vector<UnderRootSpec>& specs) {
  // Checked before anything is opened: opening an S3 root already resolves credentials.
  std::vector<std::string_view> uris;
  uris.reserve(specs.size());
  for (const auto& spec : specs) uris.push_back(spec.uri);
  EC_RETURN_IF_ERROR(CheckDistinctRoots(uris));
  std::vector<UnderRoot> roots;
  roots.reserve(specs.size());
  for (const auto& spec : specs) {
    auto store = OpenUnderStore(spec.uri, spec.options);
    if (!store.ok()) return store.status().WithContext(WithoutUserInfo(spec.uri));
    roots.push_back({spec.uri, std::move(store).value()});
  }
  return Create(std::move(roots));
}

std::vector<std::string> MultiRootUnderStore::roots() const {
  std::vector<std::string> out;
  out.reserve(routes_.size());
  for (const auto& route : routes_) out.push_back(route.display);
  std::sort(out.begin(), out.end());
  return out;
}

Result<UnderStore*> MultiRootUnderStore::Find(std::string_view path) const {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  const std::string key = RoutingKey(path);
  for (const auto& route : routes_) {
    if (RootContains(route.key, key)) return route.store.get();
  }
  return Status::PermissionDenied(
      fmt::format("{} is outside every under-store root ({})", path, JoinRoots(roots())));
}

Result<FileStatus> MultiRootUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(UnderStore * store, Find(path));
  return store->Stat(path);
}

Result<std::vector<FileStatus>> MultiRootUnderStore::List(std::string_view path, bool recursive) {
  EC_ASSIGN_OR_RETURN(UnderStore * store, Find(path));
  return store->List(path, recursive);
}

Result<ListPage> MultiRootUnderStore::ListAfter(std::string_view path, bool recursive,
                                                std::string_view start_after, std::size_t limit) {
  EC_ASSIGN_OR_RETURN(UnderStore * store, Find(path));
  return store->ListAfter(path, recursive, start_after, limit);
}

Result<std::size_t> MultiRootUnderStore::ReadRange(std::string_view path, std::string_view version,
                                                   std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(UnderStore * store, Find(path));
  return store->ReadRange(path, version, offset, out);
}

}  // namespace epochcache
