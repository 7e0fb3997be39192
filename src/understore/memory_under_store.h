// The in-memory twin of an under store, for unit tests: files live in a map, and tests can
// count reads, inject failures and change objects (which changes their version).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "epochcache/under_store.h"

namespace epochcache {

class MemoryUnderStore final : public UnderStore {
 public:
  MemoryUnderStore() = default;

  // Creates or replaces the file at `path` (an absolute "/a/b" path); each replacement gets a
  // new version. Parent directories exist implicitly.
  void Put(const std::string& path, std::string contents);
  void Remove(const std::string& path);
  // Makes every following call fail with `status` until cleared with Status::Ok().
  void InjectFailure(Status status);

  // Totals since construction: ReadRange calls and bytes returned by them.
  [[nodiscard]] std::uint64_t read_calls() const { return read_calls_.load(); }
  [[nodiscard]] std::uint64_t bytes_read() const { return bytes_read_.load(); }

  [[nodiscard]] std::string_view Scheme() const override { return "memory"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  // Builds the whole listing and slices it: a twin for tests, not a store to scale.
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

 private:
  struct Object {
    std::string contents;
    std::string version;
  };

  mutable std::mutex mu_;
  std::map<std::string, Object, std::less<>> objects_;  // GUARDED_BY(mu_)
  std::uint64_t next_version_ = 1;                      // GUARDED_BY(mu_)
  Status failure_;                                      // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> read_calls_{0};
  std::atomic<std::uint64_t> bytes_read_{0};
};

}  // namespace epochcache
