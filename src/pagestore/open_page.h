// A page file held open after its header was checked, remembering when each chunk's checksum
// was last verified. The store keeps a bounded number of these (page_store_impl.h), so a hit on
// a page read lately costs one fstat(2): no open, no header read, and no re-reading and hashing
// of chunks verified lately — a 4 KiB hit no longer reads and hashes the whole 64 KiB chunk
// around it, which would leave sendfile(2) as the only copy.
//
// Trust: a chunk is verified the first time it is read through an OpenPage, and again once
// `max_age` has passed (bytes the kernel drops from its cache and reads back from a failing
// disk). The store never writes into a page file (it replaces files by rename), so a file
// whose inode, size, mtime or ctime moved since it was opened was written by someone else:
// Unchanged() says so and the caller opens it afresh, verifying everything again.
//
// Thread-safety: every method may be called from many threads at once; the descriptor is
// used only with explicit offsets (pread, sendfile with an offset), never its file position.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "common/env.h"
#include "epochcache/page_store.h"
#include "epochcache/status.h"
#include "pagestore/page_format.h"

namespace epochcache::pagestore {

class OpenPage {
 public:
  // Opens the page file at `path` and checks its header (magic, version, checksum, identity
  // `id`, `page_size`, file length). NotFound if the file is not there; ChecksumError if
  // anything about it is wrong; IoError, PermissionDenied if the disk failed or refused.
  static Result<std::shared_ptr<OpenPage>> Open(Env* env, const std::string& path, const PageId& id,
                                                std::uint64_t page_size);

  OpenPage(const OpenPage&) = delete;
  OpenPage& operator=(const OpenPage&) = delete;
  ~OpenPage() = default;

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const PageHeader& header() const { return header_; }

  // Whether the file is still the one opened, with the size and times it had then; an
  // fstat error is returned as it is (IoError).
  Result<bool> Unchanged(Env* env) const;

  // Checks that the chunks covering [offset, offset + length) of the page's data are in the
  // file and verifies those not verified within `max_age` of `now_ns` (a max_age of 0 verifies
  // every time). Returns where byte `offset` of the data is in the file (the covered chunks
  // are contiguous there). InvalidArgument if the range is outside the data; ChecksumError if
  // a chunk is missing or does not verify; IoError if the read failed. Adds the bytes it read
  // to verify to `*read_bytes`.
  Result<std::uint64_t> Verify(Env* env, std::uint64_t offset, std::uint64_t length,
                               std::int64_t now_ns, std::int64_t max_age_ns,
                               std::uint64_t* read_bytes);

 private:
  OpenPage(ScopedFd fd, std::string path, PageHeader header, FileInfo opened);

  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

  const ScopedFd fd_;
  const std::string path_;  // for error messages
  const PageHeader header_;
  const FileInfo opened_;
  // Per chunk: the clock reading (ns) of its last successful verification, or kNever.
  std::unique_ptr<std::atomic<std::int64_t>[]> verified_at_ns_;
};

}  // namespace epochcache::pagestore
