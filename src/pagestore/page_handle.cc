#include <unistd.h>

#include <utility>

#include "epochcache/page_store.h"

namespace epochcache {

PageHandle::PageHandle(PageHandle&& other) noexcept
    : owner_(std::move(other.owner_)),
      fd_(std::exchange(other.fd_, -1)),
      file_offset_(std::exchange(other.file_offset_, 0)),
      length_(std::exchange(other.length_, 0)) {}

PageHandle& PageHandle::operator=(PageHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0 && !owner_) ::close(fd_);
    owner_ = std::move(other.owner_);
    fd_ = std::exchange(other.fd_, -1);
    file_offset_ = std::exchange(other.file_offset_, 0);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

PageHandle::~PageHandle() {
  if (fd_ >= 0 && !owner_) ::close(fd_);
}

}  // namespace epochcache
