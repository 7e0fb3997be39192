#include "arrow/input_file.h"

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>

#include "arrow/status_map.h"

namespace epochcache::arrowfs {

InputFile::InputFile(std::shared_ptr<Client> client, std::string uri, std::int64_t size,
                     arrow::io::IOContext io_context)
    : client_(std::move(client)),
      uri_(std::move(uri)),
      size_(size),
      io_context_(std::move(io_context)) {}

arrow::Status InputFile::Close() {
  closed_.store(true);
  return arrow::Status::OK();
}

arrow::Result<std::int64_t> InputFile::Tell() const {
  if (closed()) return arrow::Status::Invalid("epochcache: ", uri_, " is closed");
  const std::lock_guard lock(position_mutex_);
  return position_;
}

arrow::Status InputFile::Seek(std::int64_t position) {
  if (closed()) return arrow::Status::Invalid("epochcache: ", uri_, " is closed");
  if (position < 0) return arrow::Status::Invalid("epochcache: negative seek position");
  const std::lock_guard lock(position_mutex_);
  position_ = position;
  return arrow::Status::OK();
}

arrow::Result<std::int64_t> InputFile::GetSize() {
  if (closed()) return arrow::Status::Invalid("epochcache: ", uri_, " is closed");
  return size_;
}

arrow::Result<std::int64_t> InputFile::Clip(std::int64_t position, std::int64_t nbytes) const {
  if (closed()) return arrow::Status::Invalid("epochcache: ", uri_, " is closed");
  if (position < 0 || nbytes < 0) {
    return arrow::Status::Invalid("epochcache: negative read position or length for ", uri_);
  }
  return std::max<std::int64_t>(0, std::min(nbytes, size_ - position));
}

arrow::Result<std::int64_t> InputFile::ReadInto(std::int64_t position, std::int64_t nbytes,
                                                bool allow_short_read, void* out) {
  ARROW_ASSIGN_OR_RAISE(const std::int64_t length, Clip(position, nbytes));
  std::int64_t got = 0;
  if (length > 0) {
    auto read =
        client_->Read(uri_, static_cast<std::uint64_t>(position),
                      std::span(static_cast<std::byte*>(out), static_cast<std::size_t>(length)));
    if (!read.ok()) return ToArrow(read.status());
    got = static_cast<std::int64_t>(*read);
  }
  if (!allow_short_read && got < nbytes) {
    return arrow::Status::IOError("epochcache: ", uri_, ": read ", got, " bytes at ", position,
                                  " of the ", nbytes, " asked for (the file has ", size_,
                                  " bytes)");
  }
  return got;
}

arrow::Result<std::int64_t> InputFile::ReadAt(std::int64_t position, std::int64_t nbytes,
                                              bool allow_short_read, void* out) {
  return ReadInto(position, nbytes, allow_short_read, out);
}

arrow::Result<std::int64_t> InputFile::ReadAt(std::int64_t position, std::int64_t nbytes,
                                              void* out) {
  return ReadInto(position, nbytes, true, out);
}

arrow::Result<std::shared_ptr<arrow::Buffer>> InputFile::ReadAt(std::int64_t position,
                                                                std::int64_t nbytes,
                                                                bool allow_short_read) {
  ARROW_ASSIGN_OR_RAISE(const std::int64_t length, Clip(position, nbytes));
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<arrow::ResizableBuffer> buffer,
                        arrow::AllocateResizableBuffer(length, io_context_.pool()));
  ARROW_ASSIGN_OR_RAISE(const std::int64_t got,
                        ReadInto(position, nbytes, allow_short_read, buffer->mutable_data()));
  if (got < length) ARROW_RETURN_NOT_OK(buffer->Resize(got, /*shrink_to_fit=*/false));
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

arrow::Result<std::shared_ptr<arrow::Buffer>> InputFile::ReadAt(std::int64_t position,
                                                                std::int64_t nbytes) {
  return ReadAt(position, nbytes, true);
}

arrow::Result<std::int64_t> InputFile::Read(std::int64_t nbytes, void* out) {
  const std::lock_guard lock(position_mutex_);
  ARROW_ASSIGN_OR_RAISE(const std::int64_t got, ReadInto(position_, nbytes, true, out));
  position_ += got;
  return got;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> InputFile::Read(std::int64_t nbytes) {
  const std::lock_guard lock(position_mutex_);
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> buffer, ReadAt(position_, nbytes, true));
  position_ += buffer->size();
  return buffer;
}

}  // namespace epochcache::arrowfs
