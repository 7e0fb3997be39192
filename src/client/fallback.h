// The under stores a client reads directly when no worker can serve.
//
// Configured by a root URI: a fixed root ("/", "file:///data", "s3://bucket") is opened once;
// a root with no authority ("s3://", "http://", "https://") opens one store per bucket or host,
// as paths ask for them.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::client {

class FallbackStores {
 public:
  // Opens a fixed root now, so that bad options fail early.
  static Result<std::unique_ptr<FallbackStores>> Create(std::string root,
                                                        const UnderStoreOptions& options,
                                                        std::shared_ptr<UnderStore> fixed);

  // The store that serves `path`.
  Result<std::shared_ptr<UnderStore>> For(std::string_view path);

 private:
  FallbackStores(std::string root, UnderStoreOptions options, std::shared_ptr<UnderStore> fixed)
      : root_(std::move(root)), options_(std::move(options)), fixed_(std::move(fixed)) {}

  const std::string root_;  // "s3://" etc. when per authority
  const UnderStoreOptions options_;
  const std::shared_ptr<UnderStore> fixed_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<UnderStore>, std::less<>> by_root_;  // GUARDED_BY(mu_)
};

}  // namespace epochcache::client
