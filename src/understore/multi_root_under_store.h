// An under store made of several roots ("s3://a/train", "s3://b", "file:///data"), so one
// worker serves every dataset of a node instead of one process per bucket.
//
// Each path goes to the root that contains it, compared segment by segment on the checked
// spelling (CheckUnderPath first): "s3://a/train2/x" is not inside "s3://a/train". A path inside
// no root is PermissionDenied naming the roots. Roots may not repeat or nest: with nesting, which
// root's options (endpoint, credentials) serve a path would depend on a tie-break rather than on
// what the operator wrote. The store of each root checks containment again, so routing never
// widens what a root allows.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/under_store.h"

namespace epochcache {

// One root and its store (already opened).
struct UnderRoot {
  std::string uri;  // as the operator wrote it (may hold user info; never shown)
  std::unique_ptr<UnderStore> store;
};

// One root to open with OpenUnderStore, with its own options.
struct UnderRootSpec {
  std::string uri;
  UnderStoreOptions options;
};

class MultiRootUnderStore final : public UnderStore {
 public:
  // InvalidArgument for no roots, or for roots that repeat or contain one another.
  static Result<std::unique_ptr<MultiRootUnderStore>> Create(std::vector<UnderRoot> roots);
  // Checks the roots as Create does, then opens each with OpenUnderStore; errors name the root.
  static Result<std::unique_ptr<MultiRootUnderStore>> Open(const std::vector<UnderRootSpec>& specs);

  // The roots as given, user information removed (for logs and /v1/stats).
  [[nodiscard]] std::vector<std::string> roots() const;

  [[nodiscard]] std::string_view Scheme() const override { return scheme_; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override;
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

 private:
  struct Route {
    std::string key;      // the root as a path is compared with it (see RoutingKey)
    std::string display;  // the root without user information
    std::unique_ptr<UnderStore> store;
  };
  explicit MultiRootUnderStore(std::vector<Route> routes);

  // The store of the root containing `path`, or PermissionDenied.
  Result<UnderStore*> Find(std::string_view path) const;

  std::vector<Route> routes_;  // longest key first
  std::string scheme_;
};

// `scheme://user:secret@host/...` as `scheme://***@host/...`, for logs and messages.
std::string WithoutUserInfo(std::string_view uri);

// The spelling a root or path is compared in: "file:///d" and "/d" as "/d", "s3a://" as
// "s3://", user information dropped, trailing '/' removed ("/" stays "/").
std::string RoutingKey(std::string_view uri);

// InvalidArgument for no roots, or for roots that repeat or contain one another.
Status CheckDistinctRoots(const std::vector<std::string_view>& uris);

// Whether `path_key` is `root_key` or lies below it, on a segment boundary (both RoutingKeys).
bool RootContains(std::string_view root_key, std::string_view path_key);

}  // namespace epochcache
