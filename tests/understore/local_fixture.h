// What the local store's tests share: a fresh directory tree removed at the end, and a store
// opened on a directory of it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "understore/local_under_store.h"

namespace epochcache::testing {

// A new directory under the system temp dir (its canonical path: no symlink on the way, so
// store paths compare equal), removed with everything in it on destruction.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ec-local-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = std::filesystem::canonical(tmpl);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A local store on `root` (a path or a file:// URI); fails the test, returning null, if it
// cannot open.
inline std::unique_ptr<LocalUnderStore> OpenLocalStore(const std::string& root,
                                                       LocalUnderStoreOptions options = {}) {
  auto store = LocalUnderStore::Open(root, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

}  // namespace epochcache::testing
