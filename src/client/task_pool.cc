#include "client/task_pool.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>

namespace epochcache::client {

class TaskPool::Impl {
 public:
  explicit Impl(std::size_t threads) : pool(threads) {}
  ~Impl() { pool.join(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  boost::asio::thread_pool pool;
};

TaskPool::TaskPool(std::size_t threads) : threads_(threads == 0 ? 1 : threads) {}

TaskPool::~TaskPool() = default;

void TaskPool::RunAll(std::size_t n, const std::function<void(std::size_t)>& task) {
  if (n == 0) return;
  Impl* impl = nullptr;
  {
    std::lock_guard lock(mu_);
    if (!impl_) impl_ = std::make_unique<Impl>(threads_);
    impl = impl_.get();
  }
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = n;
  for (std::size_t i = 0; i < n; ++i) {
    boost::asio::post(impl->pool, [&, i] {
      task(i);
      std::lock_guard lock(mu);
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
}

void TaskPool::Leak() {
  std::lock_guard lock(mu_);
  (void)impl_.release();
}

}  // namespace epochcache::client
