// A file read through the native client: ReadAt allocates an arrow::Buffer of the bytes to be
// read and the client lands the pieces straight in it (no copy in between). ReadAt is safe to
// call from many threads at once (the client is); the stream position of Read/Seek/Tell is
// guarded by a mutex. ReadAsync is Arrow's default: ReadAt on the IO executor.
#pragma once

#include <arrow/io/interfaces.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "epochcache/client.h"

namespace epochcache::arrowfs {

class InputFile final : public arrow::io::RandomAccessFile {
 public:
  // `size` is the file's size when it was opened (a stat, or the caller's FileInfo).
  InputFile(std::shared_ptr<Client> client, std::string uri, std::int64_t size,
            arrow::io::IOContext io_context);

  arrow::Status Close() override;
  [[nodiscard]] bool closed() const override { return closed_.load(); }
  [[nodiscard]] arrow::Result<std::int64_t> Tell() const override;
  arrow::Status Seek(std::int64_t position) override;
  arrow::Result<std::int64_t> GetSize() override;
  [[nodiscard]] const arrow::io::IOContext& io_context() const override { return io_context_; }

  arrow::Result<std::int64_t> Read(std::int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(std::int64_t nbytes) override;

  arrow::Result<std::int64_t> ReadAt(std::int64_t position, std::int64_t nbytes,
                                     bool allow_short_read, void* out) override;
  arrow::Result<std::int64_t> ReadAt(std::int64_t position, std::int64_t nbytes,
                                     void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(std::int64_t position, std::int64_t nbytes,
                                                       bool allow_short_read) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(std::int64_t position,
                                                       std::int64_t nbytes) override;

 private:
  // Bytes of [position, position + nbytes) inside the file as opened; checks closed/negative.
  [[nodiscard]] arrow::Result<std::int64_t> Clip(std::int64_t position, std::int64_t nbytes) const;
  arrow::Result<std::int64_t> ReadInto(std::int64_t position, std::int64_t nbytes,
                                       bool allow_short_read, void* out);

  std::shared_ptr<Client> client_;
  std::string uri_;
  std::int64_t size_;
  arrow::io::IOContext io_context_;
  std::atomic<bool> closed_{false};
  mutable std::mutex position_mutex_;
  std::int64_t position_ = 0;  // GUARDED_BY(position_mutex_)
};

}  // namespace epochcache::arrowfs
