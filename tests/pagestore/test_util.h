// Helpers shared by the page store tests: temp dirs, page data, opening a store, reading through
// a handle, finding page and temp files (opening a store: support/test_page_store.h). The tests
// live in epochcache::pagestore and use the names below unqualified (see the end of this file).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "epochcache/page_store.h"
#include "support/test_page_store.h"

namespace epochcache::pagestore::testing_util {

// A fresh directory under the test temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = ::testing::TempDir() + "/pagestore-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Deterministic bytes, different for every (seed, position).
inline std::vector<std::byte> PageBytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> out(n);
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<std::byte>(x & 0xff);
  }
  return out;
}

// Reads the bytes a handle points at, as the worker's sendfile would send them.
inline std::vector<std::byte> ReadHandle(const PageHandle& h) {
  std::vector<std::byte> out(h.length());
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(h.fd(), out.data() + done, out.size() - done,
                              static_cast<off_t>(h.file_offset() + done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

inline PageId Page(const std::string& file, std::uint64_t index) {
  return PageId{MakeFileKey(file, "v1"), index};
}

// Every page file (not temp file) under a cache dir.
inline std::vector<std::filesystem::path> PageFiles(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

// Disk bytes of a full page file beyond its data: the header, one alignment block.
inline constexpr std::uint64_t kPageHeaderBytes = 4096;

// Where a store keeps page `id` under cache dir `dir`.
inline std::string PagePath(const std::string& dir, const PageId& id) {
  return dir + "/pages/" + id.file_key.substr(0, 2) + "/" + id.file_key + "." +
         std::to_string(id.index);
}

// How many temp files (page writes not committed) lie under a cache dir.
inline std::size_t TempFileCount(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& p : PageFiles(dir)) n += p.extension() == ".tmp" ? 1 : 0;
  return n;
}

}  // namespace epochcache::pagestore::testing_util

namespace epochcache::pagestore {
using testing_support::OpenTestStore;
using testing_util::kPageHeaderBytes;
using testing_util::Page;
using testing_util::PageBytes;
using testing_util::PageFiles;
using testing_util::PagePath;
using testing_util::ReadHandle;
using testing_util::TempDir;
using testing_util::TempFileCount;
}  // namespace epochcache::pagestore
