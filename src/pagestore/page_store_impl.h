// The PageStore implementation: an in-memory index over page files in several cache dirs.
//
// Locking: one mutex guards the index, the per-dir policies and health. It is held only for
// map and policy updates, never across disk I/O. A page being written is in the index as
// "pending" (reads miss it; a second Put of it is a no-op) until its file is renamed into
// place. A page being deleted is out of the index and in `unlinking_` until its file is gone,
// so a concurrent Put cannot recreate the file just before the delayed unlink removes it.
// A resident page gaining chunks is "filling": still readable (the old file serves the
// chunks it has until the rewritten one is renamed over it), and a second fill of the same
// page waits for the first, so no fill overwrites another's chunks.
//
// Up to max_open_pages page files stay open between reads (OpenPage: header checked, chunks
// verified lately), in LRU order. An open file is forgotten whenever its page leaves the index,
// is doomed, or has its file replaced by a fill (the entry's file_serial moves), so a
// descriptor never keeps an evicted page's disk space, and a read never uses a replaced file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "epochcache/page_store.h"
#include "pagestore/open_page.h"
#include "pagestore/replacement_policy.h"

namespace epochcache::pagestore {

class PageStoreImpl final : public PageStore {
 public:
  // Use PageStore::Open.
  explicit PageStoreImpl(const PageStoreOptions& options);
  // Creates the directory skeletons and rebuilds the index from the page files on disk.
  void Recover();

  [[nodiscard]] std::uint64_t page_size() const override { return page_size_; }
  Result<PageHandle> Get(const PageId& id, std::uint64_t offset, std::uint64_t length) override;
  Status Put(const PageId& id, std::span<const std::byte> data) override;
  std::vector<bool> PresentChunks(const PageId& id) override;
  Status PutChunks(const PageId& id, std::uint64_t data_length, std::uint64_t offset,
                   std::span<const std::byte> data) override;
  std::uint64_t EvictFile(std::string_view file_key) override;
  [[nodiscard]] PageStoreStats Stats() const override;

 private:
  struct Dir {
    std::string root;
    std::string pages;  // root + "/pages"
    std::uint64_t configured_capacity = 0;
    std::uint64_t seed = 0;  // for placement; from the path so it survives reordering
    // Guarded by mu_:
    std::unique_ptr<ReplacementPolicy> policy;
    bool healthy = true;
    std::uint64_t errors = 0;
    int consecutive_errors = 0;
  };

  enum class State : std::uint8_t {
    kPending,  // admitted, being written; reads miss it
    kReady,    // on disk, readable
    kFilling,  // on disk, readable, being rewritten with more chunks
    kDoomed,   // evicted while being written: its writer deletes the file when done
  };

  struct Entry {
    PageId id;
    std::size_t dir = 0;
    std::uint64_t generation = 0;  // tells a re-added page from the one a reader looked up
    State state = State::kPending;
    std::uint64_t data_length = 0;
    std::vector<bool> present;      // chunks in the file (of a kFilling page: the old file's)
    std::uint64_t file_serial = 0;  // moves each time a fill renames a new file into place
  };

  // A page file held open between reads; `generation` and `file_serial` say which file.
  struct OpenSlot {
    std::uint64_t key = 0;
    std::uint64_t generation = 0;
    std::uint64_t file_serial = 0;
    std::shared_ptr<OpenPage> page;
  };

  // Chunks [first, end) of a page's data, to be added to it.
  struct ChunkWrite {
    std::uint64_t data_length = 0;
    std::uint32_t first = 0;
    std::uint32_t end = 0;
    std::span<const std::byte> data;
  };

  // A file to delete after the lock is released.
  using Doomed = std::pair<std::uint64_t, std::string>;  // policy key, path

  enum class PutOutcome { kDone, kRetryOtherDir };

  [[nodiscard]] std::string PagePath(const Dir& dir, const PageId& id) const;
  std::pair<PutOutcome, Status> PutOnce(const PageId& id, std::uint64_t key,
                                        const ChunkWrite& write);
  // Writes the page file: the new chunks, plus (when `merge`) the chunks the current file
  // holds that verify. Returns the chunks written.
  Result<std::vector<bool>> WriteChunks(const Dir& dir, const PageId& id, const ChunkWrite& write,
                                        bool merge);
  // Evicts policy victims: pages being written are doomed to their writer, others queued for
  // deletion. REQUIRES: mu_ held.
  void EvictLocked(const std::vector<std::uint64_t>& victims, std::vector<Doomed>* doomed);
  // Placement: weighted rendezvous hashing over healthy dirs; -1 when there are none.
  [[nodiscard]] int ChooseDir(std::uint64_t key) const;  // REQUIRES: mu_ held

  // Removes `key` from the index and its dir's policy if it is still `generation`, queuing
  // its file for deletion. REQUIRES: mu_ held.
  void DropLocked(std::uint64_t key, std::uint64_t generation, std::vector<Doomed>* doomed);
  // Counts an I/O error in `dir`; takes the dir out of service if the error says it is gone
  // or refuses writes (NotFound, PermissionDenied), or after repeated errors. Returns true if it
  // did. REQUIRES: mu_ held.
  bool RecordDirErrorLocked(std::size_t dir, const Status& error);
  void RecordDirSuccessLocked(std::size_t dir) { dirs_[dir].consecutive_errors = 0; }
  // Deletes queued files, then lets their pages be written again.
  void Unlink(const std::vector<Doomed>& doomed);

  // Opens (or takes from the open files) the page file and verifies the chunks of the range.
  // `open` is the page's open file, if it had one; `d`, `generation` and `file_serial` say
  // where and which file the index knew when it was looked up.
  Result<PageHandle> ReadVerified(std::uint64_t key, const PageId& id, std::size_t d,
                                  std::uint64_t generation, std::uint64_t file_serial,
                                  std::shared_ptr<OpenPage> open, std::uint64_t offset,
                                  std::uint64_t length);
  // The open file of `entry` (page `key`), moved to the front; null if there is none or it is
  // of another file. REQUIRES: mu_ held.
  std::shared_ptr<OpenPage> FindOpenLocked(std::uint64_t key, const Entry& entry);
  // Keeps `page` open if page `key` is still that generation and file; closes the least
  // recently read beyond max_open_pages_. REQUIRES: mu_ held.
  void RememberOpenLocked(std::uint64_t key, std::uint64_t generation, std::uint64_t file_serial,
                          std::shared_ptr<OpenPage> page);
  // Stops holding page `key`'s file open. Returns it, so a caller whose file is already
  // unlinked can let it close (and free its blocks) after releasing mu_. REQUIRES: mu_ held.
  std::shared_ptr<OpenPage> ForgetOpenLocked(std::uint64_t key);
  // index_.erase(it), forgetting its open file. REQUIRES: mu_ held.
  std::unordered_map<std::uint64_t, Entry>::iterator EraseLocked(
      std::unordered_map<std::uint64_t, Entry>::iterator it);

  Env* const env_;  // every disk access goes through it
  Clock* const clock_;
  const std::uint64_t page_size_;
  const EvictionPolicy eviction_policy_;
  const std::int64_t verify_interval_ns_;
  const std::size_t max_open_pages_;

  mutable std::mutex mu_;
  std::vector<Dir> dirs_;  // the vector's shape is fixed after construction
  std::unordered_map<std::uint64_t, Entry> index_;
  std::unordered_set<std::uint64_t> unlinking_;
  std::condition_variable fill_done_;  // a kFilling page stopped filling
  std::uint64_t next_generation_ = 0;
  std::list<OpenSlot> open_lru_;  // most recently read first
  std::unordered_map<std::uint64_t, std::list<OpenSlot>::iterator> open_by_key_;

  std::atomic<std::uint64_t> temp_counter_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> puts_{0};
  std::atomic<std::uint64_t> rejected_puts_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> checksum_failures_{0};
  std::atomic<std::uint64_t> dir_errors_{0};
  std::atomic<std::uint64_t> chunks_filled_{0};
  std::atomic<std::uint64_t> verified_bytes_{0};
  std::uint64_t recovered_pages_ = 0;  // written once, in Recover
  std::uint64_t discarded_files_ = 0;
  double recovery_seconds_ = 0;
};

// The index and policy key of a page: 64 bits of XXH3 over its identity.
std::uint64_t PageKey(const PageId& id);

}  // namespace epochcache::pagestore
