// Client::Load and Client::Evict: the masterless preload and its inverse. Each block goes to
// the worker a read of it would ask first (Client::Locate), so a later read finds it cached;
// nothing coordinates the clients beyond the placement they share.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "client/load_plan.h"
#include "epochcache/client.h"
#include "protocol/target.h"
#include "protocol/wire.h"

namespace epochcache {
namespace {

using client::LoadBlock;

// Shared by the load threads: the counters, the failures and the one progress callback.
class LoadState {
 public:
  LoadState(LoadProgress totals, const LoadProgressCallback& progress)
      : progress_(progress), totals_(totals) {}

  void Done(const LoadBlock& block, const Result<std::uint64_t>& fetched, std::string worker) {
    std::lock_guard lock(mu_);
    ++totals_.blocks_done;
    if (fetched.ok()) {
      totals_.bytes_done += block.length;
      totals_.bytes_fetched += *fetched;
      if (*fetched == 0) ++totals_.blocks_skipped;
    } else {
      ++totals_.blocks_failed;
      failures_.push_back(LoadFailure{.path = block.path,
                                      .offset = block.offset,
                                      .length = block.length,
                                      .worker = std::move(worker),
                                      .status = fetched.status()});
    }
    if (--blocks_left_[block.path] == 0) ++totals_.files_done;
    if (progress_) progress_(totals_);
  }

  void CountBlocks(const std::vector<LoadBlock>& blocks) {
    for (const auto& b : blocks) ++blocks_left_[b.path];
  }

  LoadProgress totals() {
    std::lock_guard lock(mu_);
    return totals_;
  }
  std::vector<LoadFailure> TakeFailures() {
    std::lock_guard lock(mu_);
    return std::move(failures_);
  }

 private:
  const LoadProgressCallback& progress_;
  std::mutex mu_;
  LoadProgress totals_;
  std::vector<LoadFailure> failures_;
  std::map<std::string, std::uint64_t> blocks_left_;
};

// The bytes the worker fetched from the under store for one block, from its /v1/load answer.
Result<std::uint64_t> LoadOne(Client& client, const std::string& worker, const LoadBlock& block) {
  const std::string offset = std::to_string(block.offset);
  const std::string length = std::to_string(block.length);
  const std::string target =
      protocol::BuildTarget(protocol::kLoadPath, {{protocol::kPathParam, block.path},
                                                  {protocol::kOffsetParam, offset},
                                                  {protocol::kLengthParam, length}});
  EC_ASSIGN_OR_RETURN(std::string body, client.WorkerPost(worker, target));
  const auto answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  const auto it = answer.is_object() ? answer.find(protocol::kBytesFetchedKey) : answer.end();
  if (it == answer.end() || !it->is_number_unsigned()) {
    return Status::IoError(fmt::format("worker {} answered /v1/load of {} without '{}'", worker,
                                       block.path, protocol::kBytesFetchedKey));
  }
  return it->get<std::uint64_t>();
}

}  // namespace

Result<LoadSummary> Client::Load(const std::vector<std::string>& paths, const LoadOptions& options,
                                 const LoadProgressCallback& progress) {
  if (options.max_inflight_per_worker == 0) {
    return Status::InvalidArgument("max_inflight_per_worker must be positive");
  }
  EC_ASSIGN_OR_RETURN(client::LoadPlan plan, client::PlanLoad(*this, paths, block_size()));
  LoadSummary summary;
  LoadProgress totals{};
  totals.files_total = plan.files;
  totals.files_done = plan.empty_files;  // nothing to load: done from the start
  totals.bytes_total = plan.bytes;
  for (const auto& [worker, blocks] : plan.by_worker) {
    std::uint64_t bytes = 0;
    for (const auto& b : blocks) bytes += b.length;
    totals.blocks_total += blocks.size();
    summary.bytes_per_worker.emplace_back(worker, bytes);
  }
  if (options.dry_run) {
    summary.totals = totals;
    return summary;
  }
  LoadState state(totals, progress);
  for (const auto& [worker, blocks] : plan.by_worker) state.CountBlocks(blocks);
  {
    // Per worker, `max_inflight_per_worker` threads take its blocks in order: a slow or dead
    // worker holds only its own share back.
    // The cursors outlive the threads (which join when `threads` goes out of scope first).
    std::vector<std::unique_ptr<std::atomic<std::size_t>>> cursors;
    std::vector<std::jthread> threads;
    for (const auto& entry : plan.by_worker) {
      const std::string& worker = entry.first;
      const std::vector<LoadBlock>& blocks = entry.second;
      cursors.push_back(std::make_unique<std::atomic<std::size_t>>(0));
      auto* cursor = cursors.back().get();
      const std::size_t n = std::min(options.max_inflight_per_worker, blocks.size());
      for (std::size_t t = 0; t < n; ++t) {
        threads.emplace_back([this, &state, &worker, &blocks, cursor] {
          for (std::size_t i = cursor->fetch_add(1); i < blocks.size(); i = cursor->fetch_add(1)) {
            state.Done(blocks[i], LoadOne(*this, worker, blocks[i]), worker);
          }
        });
      }
    }
  }
  for (auto& f : plan.failures) summary.failures.push_back(std::move(f));
  for (auto& f : state.TakeFailures()) summary.failures.push_back(std::move(f));
  summary.totals = state.totals();
  summary.totals.blocks_failed += plan.failures.size();
  return summary;
}

Result<EvictSummary> Client::Evict(const std::vector<std::string>& paths) {
  EC_ASSIGN_OR_RETURN(std::vector<FileStatus> files, client::ExpandFiles(*this, paths));
  const std::vector<WorkerRecord> workers = Workers();
  if (workers.empty()) return Status::Unavailable("evict: no epochcache workers are known");
  EvictSummary summary;
  summary.files = files.size();
  for (const auto& worker : workers) {
    for (const auto& file : files) {
      const std::string target =
          protocol::BuildTarget(protocol::kEvictPath, {{protocol::kPathParam, file.path}});
      auto body = WorkerPost(worker.address, target);
      if (!body.ok()) {
        summary.failures.emplace_back(worker.address, body.status());
        break;  // one failure per worker is enough to say it was not evicted there
      }
      const auto answer = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
      if (answer.is_object() && answer.contains(protocol::kPagesEvictedKey) &&
          answer[protocol::kPagesEvictedKey].is_number_unsigned()) {
        summary.pages_evicted += answer[protocol::kPagesEvictedKey].get<std::uint64_t>();
      }
    }
  }
  return summary;
}

}  // namespace epochcache
