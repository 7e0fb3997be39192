// A fixed, bounded set of threads for blocking work (direct under-store reads), started on
// first use, instead of threads spawned per call.
//
// This header is free of Boost; the pool is a boost::asio::thread_pool.
//
// Thread-safety: safe to use from many threads at once; must not be used from its own tasks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

namespace epochcache::client {

class TaskPool {
 public:
  explicit TaskPool(std::size_t threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Runs task(0) ... task(n - 1) on the pool's threads and returns when all have returned.
  // Calls from several threads share the pool's threads.
  void RunAll(std::size_t n, const std::function<void(std::size_t)>& task);

  // For a forked child, where the pool's threads do not exist: joining them would wait
  // forever, so the pool is never destroyed.
  void Leak();

  class Impl;

 private:
  const std::size_t threads_;
  std::mutex mu_;
  std::unique_ptr<Impl> impl_;  // GUARDED_BY(mu_); created on first use
};

}  // namespace epochcache::client
