// The file-system calls of the page store, behind a seam (after LevelDB's Env), so tests can
// make a disk fail in ways the test machine cannot (full, read-only, tearing a write, failing
// a read) by wrapping the real Env, without special mounts or hooks in production code.
//
// Descriptors are real: every fd an Env hands out is an open file descriptor of this process,
// owned by the caller, which may close(2) it or sendfile(2) from it (the worker sends page
// hits that way). So an Env can fail or shorten calls, but not serve files from memory.
//
// Errors are Status values made by ErrnoStatus, so the errno that failed decides the code the
// caller sees (see there); messages name the call, the path and the errno's text.
//
// Thread-safety: every implementation is safe to call from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

// The Status for a failed system call, `context` naming it ("creating /c/pages/ab/x.tmp").
// The code says what a caller can do about it:
//   NotFound         — ENOENT, ENOTDIR: the file or a directory on its path is not there;
//   PermissionDenied — EACCES, EPERM, EROFS: the place refuses writes (read-only, wrong owner);
//   Rejected         — ENOSPC, EDQUOT: out of space or quota; nothing is wrong with the data;
//   IoError          — anything else (EIO, ...): the device failed.
Status ErrnoStatus(int err, std::string_view context);

// What Env::Stat reports.
struct FileInfo {
  std::uint64_t size = 0;
  unsigned mode = 0;  // permission bits only (07777)
  bool is_dir = false;
  bool is_regular = false;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;  // changes on any write or metadata change; cannot be set back
  std::uint64_t inode = 0;
};

struct DirEntry {
  std::string name;
  bool is_dir = false;  // false for files, links and anything else
};

// How Env::Open opens a path. Every mode sets O_CLOEXEC.
enum class OpenMode : std::uint8_t {
  kRead,       // read only
  kCreateNew,  // write only; fails if the path exists, so the file gets exactly `perms`
  kDirectory,  // a directory, for Stat and ChangeMode; ENOTDIR if it is not one
};

class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  virtual ~Env() = default;

  // The POSIX file system. Lives for the whole process.
  static Env* Default();

  // A descriptor for `path` (see OpenMode); `perms` is used only by kCreateNew (less the
  // umask).
  virtual Result<int> Open(const std::string& path, OpenMode mode, unsigned perms = 0) = 0;
  // Closes `fd`; the descriptor is released even when an error (a delayed write error) is
  // returned. Callers that do not care about the error may close(2) directly.
  virtual Status Close(int fd) = 0;
  // Reads into `out` from `offset` until it is full or the file ends; returns the bytes read
  // (fewer than out.size() only at end of file).
  virtual Result<std::size_t> ReadAt(int fd, std::span<std::byte> out, std::uint64_t offset) = 0;
  // Writes all of `parts`, in order, at the file's current position. On error an unknown
  // prefix of them may have been written.
  virtual Status Write(int fd, std::span<const std::span<const std::byte>> parts) = 0;
  virtual Result<FileInfo> Stat(int fd) = 0;
  // Sets the permission bits of the file or directory open as `fd`.
  virtual Status ChangeMode(int fd, unsigned mode) = 0;

  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (same file system).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Unlink(const std::string& path) = 0;
  // Creates the directory `path` with `perms` (less the umask). OK if something already exists
  // there: callers that need a directory check with Open(kDirectory) or Stat.
  virtual Status CreateDir(const std::string& path, unsigned perms) = 0;
  // The entries of a directory, without "." and "..", in no particular order.
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;
};

// Owns a descriptor from an Env and close(2)s it on scope exit unless released; for paths that
// need Env::Close's error, call it on release().
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ~ScopedFd();

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  // Closes the descriptor held, if any, and holds `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace epochcache
