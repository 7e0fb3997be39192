// An Env that fails chosen calls of another Env, so tests provoke what the test machine
// cannot (a full disk, a read-only file system, a write torn midway, a disk that fails or
// flips bits on read) against real files, without hooks in production code.
//
// Thread-safety: safe to use from many threads at once, including arming faults while the
// store under test is busy; which concurrent call takes an armed fault is unspecified.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/env.h"

namespace epochcache::testing_support {

// The calls a fault can be armed on: one per Env method, Open split by mode.
enum class FaultOp : std::uint8_t {
  kOpenRead,
  kCreate,  // Open(kCreateNew)
  kOpenDir,
  kClose,
  kRead,
  kWrite,
  kStat,  // both overloads
  kChangeMode,
  kRename,
  kUnlink,
  kCreateDir,
  kListDir,
  kCount,  // not an operation
};

class FaultEnv : public Env {
 public:
  // `base` is not owned and must outlive this Env; null means Env::Default().
  explicit FaultEnv(Env* base = nullptr);

  // The next `count` calls of `op` fail with `err` (an errno, turned into a Status as the real
  // Env would: see ErrnoStatus) without reaching the base Env. A failed Close still closes.
  // Re-arming `op` replaces what was left of its previous fault.
  void Fail(FaultOp op, int err, int count = 1);
  // The next `count` writes write only their first `bytes` bytes through the base Env and then
  // fail with `err`: the partial file a crash or a disk filling midway leaves.
  void TearWrites(std::size_t bytes, int err, int count = 1);
  // The next `count` reads return what the disk holds with one bit flipped in the last byte:
  // a disk (or a cable) that corrupts silently.
  void CorruptReads(int count = 1);
  // Disarms everything.
  void Clear();
  // How many calls of `op` failed (or were torn or corrupted) so far.
  [[nodiscard]] int injected(FaultOp op) const;

  Result<int> Open(const std::string& path, OpenMode mode, unsigned perms) override;
  Status Close(int fd) override;
  Result<std::size_t> ReadAt(int fd, std::span<std::byte> out, std::uint64_t offset) override;
  Status Write(int fd, std::span<const std::span<const std::byte>> parts) override;
  Result<FileInfo> Stat(int fd) override;
  Status ChangeMode(int fd, unsigned mode) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;
  Status CreateDir(const std::string& path, unsigned perms) override;
  Result<std::vector<DirEntry>> ListDir(const std::string& path) override;

 private:
  struct Fault {
    int err = 0;
    int remaining = 0;
  };
  static constexpr std::size_t kOps = static_cast<std::size_t>(FaultOp::kCount);

  // The errno to fail `op` with now, or 0; counts it as injected.
  int Take(FaultOp op);
  // Status of a failed `op`, as the real Env would word it.
  static Status Injected(int err, std::string_view what);

  Env* const base_;
  mutable std::mutex mu_;
  std::array<Fault, kOps> faults_{};  // guarded by mu_
  std::array<int, kOps> injected_{};  // guarded by mu_
  Fault tear_{};                      // guarded by mu_
  std::size_t tear_bytes_ = 0;        // guarded by mu_
  int corrupt_reads_ = 0;             // guarded by mu_
};

}  // namespace epochcache::testing_support
