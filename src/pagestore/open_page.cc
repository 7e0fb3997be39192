#include "pagestore/open_page.h"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "pagestore/page_file.h"

namespace epochcache::pagestore {

Result<std::shared_ptr<OpenPage>> OpenPage::Open(Env* env, const std::string& path,
                                                 const PageId& id, std::uint64_t page_size) {
  EC_ASSIGN_OR_RETURN(const int raw_fd, env->Open(path, OpenMode::kRead));
  ScopedFd fd(raw_fd);
  EC_ASSIGN_OR_RETURN(const FileInfo info, env->Stat(fd.get()));
  Result<PageHeader> header = ReadHeader(env, fd.get(), id, page_size, info.size);
  if (!header.ok()) return header.status().WithContext(path);
  return std::shared_ptr<OpenPage>(new OpenPage(std::move(fd), path, *std::move(header), info));
}

OpenPage::OpenPage(ScopedFd fd, std::string path, PageHeader header, FileInfo opened)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      header_(std::move(header)),
      opened_(opened),
      verified_at_ns_(new std::atomic<std::int64_t>[header_.present.size()]) {
  for (std::size_t c = 0; c < header_.present.size(); ++c) verified_at_ns_[c].store(kNever);
}

Result<bool> OpenPage::Unchanged(Env* env) const {
  EC_ASSIGN_OR_RETURN(const FileInfo now, env->Stat(fd_.get()));
  return now.inode == opened_.inode && now.size == opened_.size &&
         now.mtime_ns == opened_.mtime_ns && now.ctime_ns == opened_.ctime_ns;
}

Result<std::uint64_t> OpenPage::Verify(Env* env, std::uint64_t offset, std::uint64_t length,
                                       std::int64_t now_ns, std::int64_t max_age_ns,
                                       std::uint64_t* read_bytes) {
  const PageHeader& h = header_;
  if (offset > h.data_length || length > h.data_length - offset) {
    return Status::InvalidArgument("range " + std::to_string(offset) + "+" +
                                   std::to_string(length) + " is outside page of " +
                                   std::to_string(h.data_length) + " bytes");
  }
  if (length == 0) return h.header_size + offset;
  const auto first = static_cast<std::uint32_t>(offset / kChunkSize);
  const auto end = static_cast<std::uint32_t>((offset + length - 1) / kChunkSize + 1);
  // The chunks to verify now: [stale_first, stale_end) spans every one not verified lately.
  std::uint32_t stale_first = end;
  std::uint32_t stale_end = first;
  for (std::uint32_t c = first; c < end; ++c) {
    if (!h.present[c]) {
      return Status::ChecksumError(path_ + ": chunk " + std::to_string(c) + " is not in the file");
    }
    const std::int64_t at = verified_at_ns_[c].load(std::memory_order_relaxed);
    if (at == kNever || now_ns - at >= max_age_ns) {
      stale_first = std::min(stale_first, c);
      stale_end = c + 1;
    }
  }
  // Present chunks are packed in chunk order, so the range's chunks are contiguous in the file.
  const std::uint64_t range_in_file = h.ChunkFileOffset(first) + (offset % kChunkSize);
  if (stale_first >= stale_end) return range_in_file;

  const std::uint64_t begin = std::uint64_t{stale_first} * kChunkSize;
  const std::uint64_t stop = std::min(std::uint64_t{stale_end} * kChunkSize, h.data_length);
  thread_local std::vector<std::byte> buffer;
  buffer.resize(stop - begin);
  Result<std::size_t> got = env->ReadAt(fd_.get(), buffer, h.ChunkFileOffset(stale_first));
  if (!got.ok()) return got.status().WithContext(path_);
  *read_bytes += *got;
  if (*got != stop - begin) return Status::ChecksumError(path_ + " is truncated");
  for (std::uint32_t c = stale_first; c < stale_end; ++c) {
    const std::uint64_t at = std::uint64_t{c} * kChunkSize - begin;
    const std::uint64_t len = h.ChunkLength(c);
    if (ChunkChecksum(std::span<const std::byte>(buffer).subspan(at, len)) !=
        h.chunk_checksums[c]) {
      return Status::ChecksumError(path_ + ": checksum mismatch in chunk " + std::to_string(c));
    }
  }
  for (std::uint32_t c = stale_first; c < stale_end; ++c) {
    verified_at_ns_[c].store(now_ns, std::memory_order_relaxed);
  }
  return range_in_file;
}

}  // namespace epochcache::pagestore
