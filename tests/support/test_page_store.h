// Opening a page store in a test, for the page store's own tests and for the layers above it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/env.h"
#include "epochcache/page_store.h"

namespace epochcache::testing_support {

// Opens a store of `page_size` pages on `dirs` through `env` (null: the real file system);
// fails the test, returning null, if it cannot.
inline std::unique_ptr<PageStore> OpenTestStore(std::vector<CacheDirOptions> dirs,
                                                std::uint64_t page_size,
                                                EvictionPolicy policy = EvictionPolicy::kLru,
                                                Env* env = nullptr) {
  PageStoreOptions options;
  options.dirs = std::move(dirs);
  options.page_size = page_size;
  options.eviction_policy = policy;
  options.env = env;
  auto store = PageStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

}  // namespace epochcache::testing_support
