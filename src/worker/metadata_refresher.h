// The worker's background revalidation of stale file statuses (stale-while-revalidate, see
// common/metadata_cache.h): a few threads of its own, so that a refresh never runs on, or
// waits for, a request's thread, and a hit that found a stale status only queues one.
//
// Jobs are merged by what they will ask the under store: every stale status learned from the
// listing of one directory is refreshed by one listing of it, and a status learned from a stat
// by one stat. A job waiting or running takes in the paths of later requests for the same
// listing (a running one settles them with the answer it is waiting for, which is newer than
// any stale status), so an epoch that walks a directory past the TTL costs one listing of it.
// At most `max_pending` jobs wait; past that Submit refuses (the caller serves the stale status
// and a later lookup asks again, or the stale limit makes it fetch itself).
//
// Thread-safety: safe to use from many threads at once. The destructor drops waiting jobs and
// waits for running ones.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace epochcache::worker {

class MetadataRefresher {
 public:
  struct Job {
    std::string key;
    std::string listed_in;  // the directory to list again; empty: stat the path
    bool recursive = false;
    std::string path;  // the first stale status that asked
  };
  // Runs a job: asks the under store, then calls Finish(job.key) for every path it must settle.
  using Run = std::function<void(const Job&)>;

  MetadataRefresher(std::size_t threads, std::size_t max_pending, Run run);
  ~MetadataRefresher();
  MetadataRefresher(const MetadataRefresher&) = delete;
  MetadataRefresher& operator=(const MetadataRefresher&) = delete;

  // Queues a refresh of `path` (by listing `listed_in` when not empty). False, and nothing
  // queued, when `max_pending` jobs already wait.
  bool Submit(std::string_view path, std::string_view listed_in, bool recursive);

  // The paths that asked for the running job `key` (the first included), after which later
  // requests for it queue a new job. Called once by Run, when the under store has answered.
  std::vector<std::string> Finish(const std::string& key);

  // Waits until no job waits or runs (for tests and orderly shutdown).
  void Drain();

 private:
  void Loop();

  const std::size_t max_pending_;
  const Run run_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  struct Entry {
    Job job;
    std::vector<std::string> paths;
  };
  std::deque<std::string> order_;  // GUARDED_BY(mu_) keys of pending_, oldest first
  std::unordered_map<std::string, Entry> pending_;  // GUARDED_BY(mu_)
  // Paths that asked for running jobs, by key, until Finish.
  std::unordered_map<std::string, std::vector<std::string>> running_paths_;  // GUARDED_BY(mu_)
  std::size_t running_ = 0;                                                  // GUARDED_BY(mu_)
  bool stopping_ = false;                                                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace epochcache::worker
