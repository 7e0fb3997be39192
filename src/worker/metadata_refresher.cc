#include "worker/metadata_refresher.h"

#include <algorithm>
#include <utility>

namespace epochcache::worker {
namespace {

std::string KeyOf(std::string_view path, std::string_view listed_in, bool recursive) {
  if (listed_in.empty()) return "s:" + std::string(path);
  return (recursive ? "r:" : "d:") + std::string(listed_in);
}

}  // namespace

MetadataRefresher::MetadataRefresher(std::size_t threads, std::size_t max_pending, Run run)
    : max_pending_(std::max<std::size_t>(max_pending, 1)), run_(std::move(run)) {
  threads = std::max<std::size_t>(threads, 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

MetadataRefresher::~MetadataRefresher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    pending_.clear();
    order_.clear();
  }
  work_cv_.notify_all();
  idle_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool MetadataRefresher::Submit(std::string_view path, std::string_view listed_in, bool recursive) {
  std::string key = KeyOf(path, listed_in, recursive);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (auto it = running_paths_.find(key); it != running_paths_.end()) {
      it->second.emplace_back(path);
      return true;
    }
    if (auto it = pending_.find(key); it != pending_.end()) {
      it->second.paths.emplace_back(path);
      return true;
    }
    if (pending_.size() >= max_pending_) return false;
    Entry entry{Job{key, std::string(listed_in), recursive, std::string(path)},
                {std::string(path)}};
    pending_.emplace(key, std::move(entry));
    order_.push_back(std::move(key));
  }
  work_cv_.notify_one();
  return true;
}

std::vector<std::string> MetadataRefresher::Finish(const std::string& key) {
  std::lock_guard lock(mu_);
  auto node = running_paths_.extract(key);
  if (node.empty()) return {};
  return std::move(node.mapped());
}

void MetadataRefresher::Drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return stopping_ || (pending_.empty() && running_ == 0); });
}

void MetadataRefresher::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !order_.empty(); });
    if (stopping_) return;
    auto node = pending_.extract(order_.front());
    order_.pop_front();
    Entry& entry = node.mapped();
    // A job of the same key may still be running (its paths were settled by Finish): the
    // newer one's paths join whatever is collected for the key from here on.
    auto& paths = running_paths_[entry.job.key];
    paths.insert(paths.end(), entry.paths.begin(), entry.paths.end());
    ++running_;
    lock.unlock();
    run_(entry.job);
    lock.lock();
    --running_;
    if (pending_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

}  // namespace epochcache::worker
