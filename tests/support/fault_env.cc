#include "support/fault_env.h"

#include <algorithm>
#include <vector>

namespace epochcache::testing_support {

FaultEnv::FaultEnv(Env* base) : base_(base != nullptr ? base : Env::Default()) {}

void FaultEnv::Fail(FaultOp op, int err, int count) {
  std::lock_guard lock(mu_);
  faults_[static_cast<std::size_t>(op)] = Fault{err, count};
}

void FaultEnv::TearWrites(std::size_t bytes, int err, int count) {
  std::lock_guard lock(mu_);
  tear_ = Fault{err, count};
  tear_bytes_ = bytes;
}

void FaultEnv::CorruptReads(int count) {
  std::lock_guard lock(mu_);
  corrupt_reads_ = count;
}

void FaultEnv::Clear() {
  std::lock_guard lock(mu_);
  faults_ = {};
  tear_ = {};
  corrupt_reads_ = 0;
}

int FaultEnv::injected(FaultOp op) const {
  std::lock_guard lock(mu_);
  return injected_[static_cast<std::size_t>(op)];
}

int FaultEnv::Take(FaultOp op) {
  std::lock_guard lock(mu_);
  Fault& fault = faults_[static_cast<std::size_t>(op)];
  if (fault.remaining <= 0) return 0;
  --fault.remaining;
  ++injected_[static_cast<std::size_t>(op)];
  return fault.err;
}

Status FaultEnv::Injected(int err, std::string_view what) {
  return ErrnoStatus(err, std::string(what) + " (injected)");
}

Result<int> FaultEnv::Open(const std::string& path, OpenMode mode, unsigned perms) {
  const FaultOp op = mode == OpenMode::kRead        ? FaultOp::kOpenRead
                     : mode == OpenMode::kCreateNew ? FaultOp::kCreate
                                                    : FaultOp::kOpenDir;
  if (const int err = Take(op); err != 0) return Injected(err, "opening " + path);
  return base_->Open(path, mode, perms);
}

Status FaultEnv::Close(int fd) {
  const int err = Take(FaultOp::kClose);
  Status status = base_->Close(fd);  // released either way, as close(2) does
  if (err != 0) return Injected(err, "closing a file");
  return status;
}

Result<std::size_t> FaultEnv::ReadAt(int fd, std::span<std::byte> out, std::uint64_t offset) {
  if (const int err = Take(FaultOp::kRead); err != 0) return Injected(err, "reading a file");
  Result<std::size_t> got = base_->ReadAt(fd, out, offset);
  if (!got.ok() || *got == 0) return got;
  {
    std::lock_guard lock(mu_);
    if (corrupt_reads_ <= 0) return got;
    --corrupt_reads_;
    ++injected_[static_cast<std::size_t>(FaultOp::kRead)];
  }
  out[*got - 1] ^= std::byte{0x01};
  return got;
}

Status FaultEnv::Write(int fd, std::span<const std::span<const std::byte>> parts) {
  if (const int err = Take(FaultOp::kWrite); err != 0) return Injected(err, "writing a file");
  std::size_t tear_at = 0;
  int tear_err = 0;
  {
    std::lock_guard lock(mu_);
    if (tear_.remaining > 0) {
      --tear_.remaining;
      ++injected_[static_cast<std::size_t>(FaultOp::kWrite)];
      tear_err = tear_.err;
      tear_at = tear_bytes_;
    }
  }
  if (tear_err == 0) return base_->Write(fd, parts);
  std::vector<std::span<const std::byte>> prefix;
  for (std::span<const std::byte> part : parts) {
    if (tear_at == 0) break;
    const std::size_t n = std::min(tear_at, part.size());
    prefix.push_back(part.first(n));
    tear_at -= n;
  }
  EC_RETURN_IF_ERROR(base_->Write(fd, prefix));
  return Injected(tear_err, "writing a file");
}

Result<FileInfo> FaultEnv::Stat(int fd) {
  if (const int err = Take(FaultOp::kStat); err != 0) return Injected(err, "stat of an open file");
  return base_->Stat(fd);
}

Status FaultEnv::ChangeMode(int fd, unsigned mode) {
  if (const int err = Take(FaultOp::kChangeMode); err != 0) {
    return Injected(err, "changing the mode of a file");
  }
  return base_->ChangeMode(fd, mode);
}

Result<FileInfo> FaultEnv::Stat(const std::string& path) {
  if (const int err = Take(FaultOp::kStat); err != 0) return Injected(err, "stat " + path);
  return base_->Stat(path);
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  if (const int err = Take(FaultOp::kRename); err != 0) {
    return Injected(err, "renaming " + from + " to " + to);
  }
  return base_->Rename(from, to);
}

Status FaultEnv::Unlink(const std::string& path) {
  if (const int err = Take(FaultOp::kUnlink); err != 0) return Injected(err, "removing " + path);
  return base_->Unlink(path);
}

Status FaultEnv::CreateDir(const std::string& path, unsigned perms) {
  if (const int err = Take(FaultOp::kCreateDir); err != 0) {
    return Injected(err, "creating directory " + path);
  }
  return base_->CreateDir(path, perms);
}

Result<std::vector<DirEntry>> FaultEnv::ListDir(const std::string& path) {
  if (const int err = Take(FaultOp::kListDir); err != 0) return Injected(err, "listing " + path);
  return base_->ListDir(path);
}

}  // namespace epochcache::testing_support
