#include "pagestore/page_store_impl.h"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>

#include "common/private_dir.h"
#include "common/sizes.h"
#include "pagestore/page_file.h"
#include "pagestore/page_format.h"

namespace epochcache {
namespace pagestore {
namespace {

// A dir is taken out of service after this many I/O errors in a row (or at once when the
// error says it is gone or read-only).
constexpr int kMaxConsecutiveErrors = 3;

std::uint64_t Mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Gone, or read-only, or not ours any more: waiting will not help.
bool MeansDirIsGone(const Status& error) {
  return error.code() == StatusCode::kNotFound || error.code() == StatusCode::kPermissionDenied;
}

}  // namespace

std::uint64_t PageKey(const PageId& id) {
  return XXH3_64bits_withSeed(id.file_key.data(), id.file_key.size(), id.index);
}

PageStoreImpl::PageStoreImpl(const PageStoreOptions& options)
    : env_(options.env != nullptr ? options.env : Env::Default()),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
      page_size_(options.page_size),
      eviction_policy_(options.eviction_policy),
      verify_interval_ns_(options.verify_interval.count()),
      max_open_pages_(options.max_open_pages) {
  dirs_.resize(options.dirs.size());
  for (std::size_t i = 0; i < options.dirs.size(); ++i) {
    Dir& dir = dirs_[i];
    dir.root = options.dirs[i].path;
    dir.pages = dir.root + "/" + std::string(kPagesDir);
    dir.configured_capacity = options.dirs[i].capacity_bytes;
    dir.seed = XXH3_64bits(dir.root.data(), dir.root.size());
    const std::uint64_t expected_pages = std::max<std::uint64_t>(
        1, dir.configured_capacity / (page_size_ + HeaderSizeFor(page_size_)));
    dir.policy = MakeReplacementPolicy(eviction_policy_, dir.configured_capacity, expected_pages);
  }
}

std::string PageStoreImpl::PagePath(const Dir& dir, const PageId& id) const {
  std::string path = dir.pages;
  path.append("/").append(PrefixDirName(id.file_key)).append("/").append(PageFileName(id));
  return path;
}

void PageStoreImpl::Recover() {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);  // uncontended: nobody else has the store yet

  // Prefix dirs (pages/00 … pages/ff) are made by Put on first use; scan the ones present.
  struct Job {
    std::size_t dir;
    std::string path;
  };
  std::vector<Job> jobs;
  std::uint64_t ignored = 0;
  for (std::size_t d = 0; d < dirs_.size(); ++d) {
    Status made = MakePrivateDirs(env_, dirs_[d].root);
    if (made.ok()) made = MakePrivateDirs(env_, dirs_[d].pages);
    Result<std::vector<DirEntry>> entries =
        made.ok() ? env_->ListDir(dirs_[d].pages) : Result<std::vector<DirEntry>>(made);
    if (!entries.ok()) {
      spdlog::error("page store: cache dir {} is unusable: {}", dirs_[d].root,
                    entries.status().message());
      dirs_[d].healthy = false;
      ++dirs_[d].errors;
      ++dir_errors_;
      continue;
    }
    for (const DirEntry& entry : *entries) {
      const std::string& name = entry.name;
      if (entry.is_dir && name.size() == 2 && IsValidFileKey(name + std::string(30, '0'))) {
        jobs.push_back(Job{d, dirs_[d].pages + "/" + name});
      } else {
        ++ignored;
      }
    }
  }

  // Scanning is dominated by opening files and reading one header block each, so a few
  // threads overlap the disk latency.
  std::vector<ScanResult> results(jobs.size());
  {
    std::atomic<std::size_t> next{0};
    const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 2U, 8U);
    const auto scan = [&] {
      for (std::size_t i = next++; i < jobs.size(); i = next++) {
        results[i] = ScanPrefixDir(env_, jobs[i].path, page_size_);
      }
    };
    std::vector<std::jthread> workers;
    for (unsigned t = 1; t < threads; ++t) {
      try {
        workers.emplace_back(scan);
      } catch (const std::system_error& e) {
        // Out of threads: scan with those we have rather than fail to open.
        spdlog::warn("page store: scanning with {} threads: {}", t, e.what());
        break;
      }
    }
    scan();  // this thread too, so the scan completes even if no thread could start
  }

  struct Found {
    std::size_t dir;
    FoundPage page;
  };
  std::vector<Found> found;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    discarded_files_ += results[i].discarded;
    ignored += results[i].ignored;
    if (!results[i].status.ok()) {
      // Its pages stay on disk unindexed until the dir is readable again at a later start.
      spdlog::warn("page store: skipped {}: {}", jobs[i].path, results[i].status.message());
    }
    for (FoundPage& page : results[i].pages) found.push_back(Found{jobs[i].dir, std::move(page)});
  }
  // Oldest first, so the most recently written pages end up most recently used.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.page.mtime_ns < b.page.mtime_ns; });
  for (Found& f : found) {
    const std::uint64_t key = PageKey(f.page.id);
    if (index_.contains(key)) {  // the same page in two dirs: keep one
      (void)env_->Unlink(PagePath(dirs_[f.dir], f.page.id));
      ++discarded_files_;
      continue;
    }
    dirs_[f.dir].policy->Restore(key, f.page.file_bytes);
    index_.emplace(key, Entry{std::move(f.page.id), f.dir, ++next_generation_, State::kReady,
                              f.page.data_length, std::move(f.page.present)});
  }
  // A dir whose capacity was lowered since the pages were written.
  for (Dir& dir : dirs_) {
    std::vector<std::uint64_t> victims;
    dir.policy->SetCapacity(dir.configured_capacity, &victims);
    for (std::uint64_t v : victims) {
      auto it = index_.find(v);
      (void)env_->Unlink(PagePath(dir, it->second.id));
      EraseLocked(it);
      ++evictions_;
    }
  }
  recovered_pages_ = index_.size();
  recovery_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ignored > 0) {
    spdlog::warn("page store: left {} files that are not page files untouched", ignored);
  }
  std::uint64_t bytes = 0;
  for (const Dir& dir : dirs_) bytes += dir.policy->used_bytes();
  spdlog::info(
      "page store: recovered {} pages ({}) from {} cache dirs in {:.3f}s; discarded {} "
      "temp or invalid files",
      recovered_pages_, FormatSize(bytes), dirs_.size(), recovery_seconds_, discarded_files_);
}

int PageStoreImpl::ChooseDir(std::uint64_t key) const {
  // Weighted rendezvous hashing: a page's dir depends only on the page and the healthy dirs,
  // so losing a dir moves only its own share, and larger dirs get proportionally more.
  int best = -1;
  double best_score = 0;
  for (std::size_t i = 0; i < dirs_.size(); ++i) {
    const Dir& dir = dirs_[i];
    const std::uint64_t weight = dir.policy->capacity_bytes();
    if (!dir.healthy || weight == 0) continue;
    const double u = (static_cast<double>(Mix(key ^ dir.seed) >> 11) + 0.5) * 0x1.0p-53;
    const double score = static_cast<double>(weight) / -std::log(u);
    if (best < 0 || score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

Result<PageHandle> PageStoreImpl::Get(const PageId& id, std::uint64_t offset,
                                      std::uint64_t length) {
  const std::uint64_t key = PageKey(id);
  std::uint64_t generation = 0;
  std::uint64_t file_serial = 0;
  std::size_t d = 0;
  std::shared_ptr<OpenPage> open;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    const bool readable =
        it != index_.end() && it->second.id == id &&
        (it->second.state == State::kReady || it->second.state == State::kFilling);
    if (readable) {
      const Entry& entry = it->second;
      if (offset > entry.data_length || length > entry.data_length - offset) {
        return Status::InvalidArgument("range " + std::to_string(offset) + "+" +
                                       std::to_string(length) + " is outside page of " +
                                       std::to_string(entry.data_length) + " bytes");
      }
      if (length > 0) {
        const auto first = static_cast<std::size_t>(offset / kChunkSize);
        const auto end = static_cast<std::size_t>((offset + length - 1) / kChunkSize + 1);
        for (std::size_t c = first; c < end && readable; ++c) {
          if (!entry.present[c]) {
            ++misses_;
            return Status::NotFound("page " + id.file_key + "." + std::to_string(id.index) +
                                    " lacks chunk " + std::to_string(c));
          }
        }
      }
    }
    if (!readable) {
      ++misses_;
      return Status::NotFound("page " + id.file_key + "." + std::to_string(id.index) +
                              " is not cached");
    }
    d = it->second.dir;
    generation = it->second.generation;
    file_serial = it->second.file_serial;
    dirs_[d].policy->OnHit(key);
    open = FindOpenLocked(key, it->second);
  }

  Result<PageHandle> handle =
      ReadVerified(key, id, d, generation, file_serial, std::move(open), offset, length);
  if (handle.ok()) {
    ++hits_;
    return handle;
  }
  Status status = handle.status();
  if (status.code() == StatusCode::kInvalidArgument) return status;  // the page itself is fine

  // The file vanished, is corrupt, or the disk failed: forget the page so it is refetched.
  Status dir_error;
  if (status.code() == StatusCode::kNotFound) {
    // A page file gone alone is eviction racing us; gone with its dir, the dir was lost.
    dir_error = env_->Stat(dirs_[d].pages).status();
  } else if (status.code() != StatusCode::kChecksumError) {
    dir_error = status;
  }
  std::vector<Doomed> doomed;
  {
    std::lock_guard lock(mu_);
    DropLocked(key, generation, &doomed);
    if (status.code() == StatusCode::kChecksumError) {
      ++checksum_failures_;
      spdlog::warn("page store: dropping corrupt page: {}", status.message());
    } else if (!dir_error.ok()) {
      RecordDirErrorLocked(d, dir_error);
    }
  }
  Unlink(doomed);
  ++misses_;
  return Status::NotFound(status.message());
}

Result<PageHandle> PageStoreImpl::ReadVerified(std::uint64_t key, const PageId& id, std::size_t d,
                                               std::uint64_t generation, std::uint64_t file_serial,
                                               std::shared_ptr<OpenPage> open, std::uint64_t offset,
                                               std::uint64_t length) {
  if (open != nullptr) {
    EC_ASSIGN_OR_RETURN(const bool unchanged, open->Unchanged(env_));
    if (!unchanged) {
      // Written by someone else since it was opened: trust nothing verified through it.
      std::lock_guard lock(mu_);
      auto it = open_by_key_.find(key);
      if (it != open_by_key_.end() && it->second->page == open) ForgetOpenLocked(key);
      open = nullptr;
    }
  }
  const bool fresh = open == nullptr;
  if (fresh) {
    // dirs_[d]'s paths never change after construction: no lock needed to read them.
    EC_ASSIGN_OR_RETURN(open, OpenPage::Open(env_, PagePath(dirs_[d], id), id, page_size_));
  }
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->Now().time_since_epoch())
          .count();
  std::uint64_t read_bytes = 0;
  Result<std::uint64_t> file_offset =
      open->Verify(env_, offset, length, now_ns, verify_interval_ns_, &read_bytes);
  verified_bytes_ += read_bytes;
  if (!file_offset.ok()) return file_offset.status();
  if (fresh && max_open_pages_ > 0) {
    std::lock_guard lock(mu_);
    RememberOpenLocked(key, generation, file_serial, open);
  }
  const int fd = open->fd();
  return PageHandle(std::move(open), fd, *file_offset, length);
}

std::shared_ptr<OpenPage> PageStoreImpl::FindOpenLocked(std::uint64_t key, const Entry& entry) {
  auto it = open_by_key_.find(key);
  if (it == open_by_key_.end()) return nullptr;
  const OpenSlot& slot = *it->second;
  if (slot.generation != entry.generation || slot.file_serial != entry.file_serial) {
    ForgetOpenLocked(key);  // of a file the page no longer has
    return nullptr;
  }
  open_lru_.splice(open_lru_.begin(), open_lru_, it->second);
  return slot.page;
}

void PageStoreImpl::RememberOpenLocked(std::uint64_t key, std::uint64_t generation,
                                       std::uint64_t file_serial, std::shared_ptr<OpenPage> page) {
  auto entry = index_.find(key);
  if (entry == index_.end() || entry->second.generation != generation ||
      entry->second.file_serial != file_serial ||
      (entry->second.state != State::kReady && entry->second.state != State::kFilling)) {
    return;  // dropped or replaced meanwhile: this file is not the page's any more
  }
  ForgetOpenLocked(key);  // a concurrent first read may have kept its own
  open_lru_.push_front(OpenSlot{key, generation, file_serial, std::move(page)});
  open_by_key_[key] = open_lru_.begin();
  while (open_lru_.size() > max_open_pages_) {
    // The least recently read page's file is still linked (it is in the index), so closing it
    // here is cheap.
    open_by_key_.erase(open_lru_.back().key);
    open_lru_.pop_back();
  }
}

std::shared_ptr<OpenPage> PageStoreImpl::ForgetOpenLocked(std::uint64_t key) {
  auto it = open_by_key_.find(key);
  if (it == open_by_key_.end()) return nullptr;
  std::shared_ptr<OpenPage> page = std::move(it->second->page);
  open_lru_.erase(it->second);
  open_by_key_.erase(it);
  return page;
}

std::unordered_map<std::uint64_t, PageStoreImpl::Entry>::iterator PageStoreImpl::EraseLocked(
    std::unordered_map<std::uint64_t, Entry>::iterator it) {
  ForgetOpenLocked(it->first);
  return index_.erase(it);
}

Status PageStoreImpl::Put(const PageId& id, std::span<const std::byte> data) {
  return PutChunks(id, data.size(), 0, data);
}

std::vector<bool> PageStoreImpl::PresentChunks(const PageId& id) {
  std::lock_guard lock(mu_);
  auto it = index_.find(PageKey(id));
  if (it == index_.end() || it->second.id != id ||
      (it->second.state != State::kReady && it->second.state != State::kFilling)) {
    return {};
  }
  return it->second.present;
}

Status PageStoreImpl::PutChunks(const PageId& id, std::uint64_t data_length, std::uint64_t offset,
                                std::span<const std::byte> data) {
  if (!IsValidFileKey(id.file_key)) {
    return Status::InvalidArgument("page file key '" + id.file_key + "' is not 32 hex chars");
  }
  if (data_length == 0 || data_length > page_size_) {
    return Status::InvalidArgument("page of " + std::to_string(data_length) + " bytes (page size " +
                                   std::to_string(page_size_) + ")");
  }
  const std::uint64_t end = offset + data.size();
  if (data.empty() || offset % kChunkSize != 0 || end > data_length ||
      (end % kChunkSize != 0 && end != data_length)) {
    return Status::InvalidArgument(
        "chunks " + std::to_string(offset) + "+" + std::to_string(data.size()) + " of a page of " +
        std::to_string(data_length) + " bytes are not whole chunks inside it");
  }
  const ChunkWrite write{data_length, static_cast<std::uint32_t>(offset / kChunkSize),
                         ChunkCount(end), data};
  const std::uint64_t key = PageKey(id);
  // A write error that takes a dir out of service is retried on the next dir.
  for (std::size_t attempt = 0; attempt <= dirs_.size(); ++attempt) {
    auto [outcome, status] = PutOnce(id, key, write);
    if (outcome == PutOutcome::kDone) return status;
  }
  ++rejected_puts_;
  return Status::Rejected("no cache dir could take the page");
}

namespace {

std::uint64_t StoredBytes(std::uint64_t data_length, const std::vector<bool>& present) {
  std::uint64_t bytes = 0;
  for (std::size_t c = 0; c < present.size(); ++c) {
    if (present[c]) {
      bytes += std::min<std::uint64_t>(kChunkSize, data_length - std::uint64_t{c} * kChunkSize);
    }
  }
  return bytes;
}

std::uint64_t FileBytes(std::uint64_t data_length, const std::vector<bool>& present) {
  return HeaderSizeFor(data_length) + StoredBytes(data_length, present);
}

}  // namespace

void PageStoreImpl::EvictLocked(const std::vector<std::uint64_t>& victims,
                                std::vector<Doomed>* doomed) {
  for (std::uint64_t v : victims) {
    ++evictions_;
    auto it = index_.find(v);
    if (it == index_.end()) continue;
    if (it->second.state == State::kPending || it->second.state == State::kFilling) {
      it->second.state = State::kDoomed;  // its writer deletes it when done
      ForgetOpenLocked(v);
      continue;
    }
    if (it->second.state == State::kDoomed) continue;
    doomed->emplace_back(v, PagePath(dirs_[it->second.dir], it->second.id));
    unlinking_.insert(v);
    EraseLocked(it);
  }
}

std::pair<PageStoreImpl::PutOutcome, Status> PageStoreImpl::PutOnce(const PageId& id,
                                                                    std::uint64_t key,
                                                                    const ChunkWrite& write) {
  const std::uint32_t chunks = ChunkCount(write.data_length);
  std::vector<bool> adding(chunks, false);
  for (std::uint32_t c = write.first; c < write.end; ++c) adding[c] = true;
  std::vector<Doomed> doomed;
  std::size_t d = 0;
  std::uint64_t generation = 0;
  bool merge = false;
  std::uint64_t old_bytes = 0;
  {
    std::unique_lock lock(mu_);
    auto it = index_.find(key);
    // One fill of a page at a time: the second merges with what the first wrote.
    while (it != index_.end() && it->second.state == State::kFilling) {
      const std::uint64_t waited_for = it->second.generation;
      fill_done_.wait(lock, [&] {
        auto now = index_.find(key);
        return now == index_.end() || now->second.generation != waited_for ||
               now->second.state != State::kFilling;
      });
      it = index_.find(key);
    }
    if (it != index_.end()) {
      Entry& entry = it->second;
      if (entry.id != id) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("another cached page has the same key")};
      }
      if (entry.state != State::kReady) return {PutOutcome::kDone, Status::Ok()};  // being written
      if (entry.data_length != write.data_length) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("the cached page has another length")};
      }
      std::vector<bool> merged = entry.present;
      bool grows = false;
      for (std::uint32_t c = write.first; c < write.end; ++c) {
        grows = grows || !merged[c];
        merged[c] = true;
      }
      if (!grows) return {PutOutcome::kDone, Status::Ok()};  // has these chunks already
      d = entry.dir;
      old_bytes = FileBytes(entry.data_length, entry.present);
      std::vector<std::uint64_t> victims;
      if (!dirs_[d].policy->Resize(key, FileBytes(write.data_length, merged), &victims)) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("the page would not fit its cache dir")};
      }
      EvictLocked(victims, &doomed);
      entry.state = State::kFilling;
      generation = entry.generation;
      merge = true;
    } else {
      if (unlinking_.contains(key)) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("the page is being removed")};
      }
      const int chosen = ChooseDir(key);
      if (chosen < 0) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("no healthy cache dir")};
      }
      d = static_cast<std::size_t>(chosen);
      std::vector<std::uint64_t> victims;
      if (!dirs_[d].policy->Admit(key, FileBytes(write.data_length, adding), &victims)) {
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("not admitted by the cache policy")};
      }
      EvictLocked(victims, &doomed);
      generation = ++next_generation_;
      index_.emplace(key, Entry{id, d, generation, State::kPending, write.data_length, {}});
    }
  }
  Unlink(doomed);

  const std::string final_path = PagePath(dirs_[d], id);
  Result<std::vector<bool>> written = WriteChunks(dirs_[d], id, write, merge);

  // The replaced file, if the page had it open: already unlinked by the rename, so the last
  // close frees its blocks, which is done after the lock is released.
  std::shared_ptr<OpenPage> replaced;
  auto finished = [&]() -> std::pair<PutOutcome, Status> {
    std::unique_lock lock(mu_);
    auto it = index_.find(key);
    const bool current = it != index_.end() && it->second.generation == generation;
    if (written.ok()) {
      if (!current) {  // the dir was taken out of service while we wrote
        ++rejected_puts_;
        return {PutOutcome::kDone, Status::Rejected("cache dir " + dirs_[d].root + " failed")};
      }
      ++puts_;
      chunks_filled_ += write.end - write.first;
      RecordDirSuccessLocked(d);
      if (it->second.state != State::kDoomed) {
        it->second.state = State::kReady;
        it->second.present = *std::move(written);
        ++it->second.file_serial;
        replaced = ForgetOpenLocked(key);
        // The old file may have had chunks that no longer verified: count what is there.
        std::vector<std::uint64_t> none;
        (void)dirs_[d].policy->Resize(key, FileBytes(write.data_length, it->second.present), &none);
        return {PutOutcome::kDone, Status::Ok()};
      }
      // Evicted while being written: the file is ours to delete.
      EraseLocked(it);
      unlinking_.insert(key);
      lock.unlock();
      Unlink({{key, final_path}});
      return {PutOutcome::kDone, Status::Ok()};
    }
    if (current) {
      if (it->second.state == State::kFilling) {
        // The old file is untouched (the rewrite went to a temp file): it stays readable.
        it->second.state = State::kReady;
        std::vector<std::uint64_t> none;
        (void)dirs_[d].policy->Resize(key, old_bytes, &none);
      } else {
        if (it->second.state == State::kPending) dirs_[d].policy->Remove(key);
        const bool had_file = merge;  // a doomed fill leaves the old file behind
        EraseLocked(it);
        if (had_file) {
          unlinking_.insert(key);
          lock.unlock();
          Unlink({{key, final_path}});
          lock.lock();
        }
      }
    }
    const Status& error = written.status();
    if (error.code() == StatusCode::kRejected) {
      // Out of space or quota: the disk holds less than configured (shared with others, or
      // capacity set too high). Lower this dir's capacity to what it uses now, so later pages
      // evict instead of failing.
      Dir& dir = dirs_[d];
      std::vector<std::uint64_t> none;
      dir.policy->SetCapacity(dir.policy->used_bytes(), &none);
      spdlog::warn("page store: cache dir {} is out of space ({}); capacity lowered to {}",
                   dir.root, error.message(), FormatSize(dir.policy->capacity_bytes()));
      ++rejected_puts_;
      return {PutOutcome::kDone, error};
    }
    // Whatever the disk said, the caller learns only that this cache dir failed.
    Status failed(StatusCode::kIoError, error.message());
    if (RecordDirErrorLocked(d, error)) return {PutOutcome::kRetryOtherDir, failed};
    ++rejected_puts_;
    return {PutOutcome::kDone, failed};
  };
  auto result = finished();
  // Whatever happened, a fill of this page waiting for this one may go on.
  fill_done_.notify_all();
  return result;
}

Result<std::vector<bool>> PageStoreImpl::WriteChunks(const Dir& dir, const PageId& id,
                                                     const ChunkWrite& write, bool merge) {
  const std::string final_path = PagePath(dir, id);
  const std::uint32_t chunks = ChunkCount(write.data_length);
  std::vector<bool> present(chunks, false);
  std::vector<std::uint64_t> sums(chunks, 0);
  std::vector<std::span<const std::byte>> parts;
  StoredChunks old;
  if (merge) {
    // The chunks the page has stay; one that fails its checksum is dropped, not copied.
    Result<StoredChunks> read = ReadStoredChunks(env_, final_path, id, page_size_);
    if (read.ok() && read->header.data_length == write.data_length) {
      old = *std::move(read);
    } else if (!read.ok() && read.status().code() != StatusCode::kNotFound &&
               read.status().code() != StatusCode::kChecksumError) {
      return read.status();
    }
  }
  for (std::uint32_t c = 0; c < chunks; ++c) {
    const std::uint64_t begin = std::uint64_t{c} * kChunkSize;
    const std::uint64_t len = std::min<std::uint64_t>(kChunkSize, write.data_length - begin);
    std::span<const std::byte> chunk;
    if (c >= write.first && c < write.end) {
      chunk = write.data.subspan(begin - std::uint64_t{write.first} * kChunkSize, len);
    } else if (c < old.present.size() && old.present[c]) {
      chunk = std::span<const std::byte>(old.data).subspan(begin, len);
    } else {
      continue;
    }
    present[c] = true;
    sums[c] = ChunkChecksum(chunk);
    parts.push_back(chunk);
  }
  const std::vector<std::byte> header =
      EncodeHeader(id, page_size_, write.data_length, sums, present);
  const std::string temp_path =
      fmt::format("{}.{}-{}{}", final_path, ::getpid(), temp_counter_.fetch_add(1), kTempSuffix);
  EC_RETURN_IF_ERROR(WritePageFile(env_, temp_path, final_path, header, parts));
  return present;
}

void PageStoreImpl::DropLocked(std::uint64_t key, std::uint64_t generation,
                               std::vector<Doomed>* doomed) {
  auto it = index_.find(key);
  if (it == index_.end() || it->second.generation != generation) return;
  Dir& dir = dirs_[it->second.dir];
  if (it->second.state == State::kFilling) {
    // Its filler renames a new file into place: leave the deletion to it.
    dir.policy->Remove(key);
    it->second.state = State::kDoomed;
    ForgetOpenLocked(key);
    return;
  }
  doomed->emplace_back(key, PagePath(dir, it->second.id));
  unlinking_.insert(key);
  dir.policy->Remove(key);
  EraseLocked(it);
}

bool PageStoreImpl::RecordDirErrorLocked(std::size_t d, const Status& error) {
  Dir& dir = dirs_[d];
  ++dir.errors;
  ++dir_errors_;
  ++dir.consecutive_errors;
  if (!dir.healthy) return true;
  if (!MeansDirIsGone(error) && dir.consecutive_errors < kMaxConsecutiveErrors) return false;
  dir.healthy = false;
  // Its pages can no longer be trusted to be there; they are refetched into other dirs.
  for (auto it = index_.begin(); it != index_.end();) {
    if (it->second.dir == d) {
      dir.policy->Remove(it->first);
      it = EraseLocked(it);
    } else {
      ++it;
    }
  }
  spdlog::error("page store: cache dir {} taken out of service after {} errors (last: {})",
                dir.root, dir.errors, error.message());
  return true;
}

void PageStoreImpl::Unlink(const std::vector<Doomed>& doomed) {
  if (doomed.empty()) return;
  for (const auto& [key, path] : doomed) (void)env_->Unlink(path);  // NotFound is fine
  std::lock_guard lock(mu_);
  for (const auto& [key, path] : doomed) unlinking_.erase(key);
}

std::uint64_t PageStoreImpl::EvictFile(std::string_view file_key) {
  std::vector<Doomed> doomed;
  std::uint64_t dropped = 0;
  {
    // A scan of the whole index: eviction of a file is an operator's request, not a hot path,
    // and keeping a second index by file would cost memory on every page.
    std::lock_guard lock(mu_);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ready;  // key, generation
    for (auto& [key, entry] : index_) {
      if (entry.id.file_key != file_key) continue;
      if (entry.state == State::kReady) {
        ready.emplace_back(key, entry.generation);
      } else if (entry.state == State::kPending || entry.state == State::kFilling) {
        dirs_[entry.dir].policy->Remove(key);
        entry.state = State::kDoomed;  // its writer deletes it when done
        ForgetOpenLocked(key);
        ++dropped;
      }
    }
    for (const auto& [key, generation] : ready) DropLocked(key, generation, &doomed);
    dropped += ready.size();
  }
  Unlink(doomed);
  return dropped;
}

PageStoreStats PageStoreImpl::Stats() const {
  PageStoreStats s;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.puts = puts_.load();
  s.rejected_puts = rejected_puts_.load();
  s.evictions = evictions_.load();
  s.checksum_failures = checksum_failures_.load();
  s.dir_errors = dir_errors_.load();
  s.chunks_filled = chunks_filled_.load();
  s.verified_bytes = verified_bytes_.load();
  s.recovered_pages = recovered_pages_;
  s.discarded_files = discarded_files_;
  s.recovery_seconds = recovery_seconds_;
  std::lock_guard lock(mu_);
  s.open_pages = open_lru_.size();
  for (const Dir& dir : dirs_) {
    s.dirs.push_back(CacheDirStats{dir.root, dir.policy->capacity_bytes(), dir.policy->used_bytes(),
                                   dir.policy->resident_count(), dir.errors, dir.healthy});
  }
  return s;
}

}  // namespace pagestore

Result<std::unique_ptr<PageStore>> PageStore::Open(const PageStoreOptions& options) {
  if (options.page_size == 0 || options.page_size > pagestore::kMaxPageSize) {
    return Status::InvalidArgument("page size " + std::to_string(options.page_size) +
                                   " is outside 1 B .. 1 GiB");
  }
  std::set<std::string> seen;
  for (const CacheDirOptions& dir : options.dirs) {
    if (dir.path.empty()) return Status::InvalidArgument("empty cache dir path");
    std::filesystem::path normal = std::filesystem::path(dir.path).lexically_normal();
    if (!normal.has_filename() && normal != normal.root_path()) normal = normal.parent_path();
    if (!seen.insert(normal.string()).second) {
      return Status::InvalidArgument("cache dir " + dir.path + " is listed twice");
    }
  }
  auto store = std::make_unique<pagestore::PageStoreImpl>(options);
  store->Recover();
  return std::unique_ptr<PageStore>(std::move(store));
}

}  // namespace epochcache
