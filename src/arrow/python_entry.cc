#include "arrow/python_entry.h"

#include "arrow/client_options.h"
#include "arrow/file_system.h"
#include "arrow/status_map.h"

namespace epochcache::arrowfs {

arrow::Status MakeFileSystem(const std::string& protocol,
                             const std::vector<std::pair<std::string, std::string>>& options,
                             std::shared_ptr<arrow::fs::FileSystem>* out) {
  ClientOptions client_options;
  for (const auto& [name, value] : options) {
    ARROW_RETURN_NOT_OK(ToArrow(SetClientOption(client_options, name, value)));
  }
  FinishClientOptions(client_options);
  ARROW_ASSIGN_OR_RAISE(*out, ArrowFileSystem::Make(protocol, std::move(client_options)));
  return arrow::Status::OK();
}

std::vector<std::pair<std::string, std::uint64_t>> ClientCounters(
    const std::shared_ptr<arrow::fs::FileSystem>& fs) {
  const auto* ours = dynamic_cast<const ArrowFileSystem*>(fs.get());
  if (ours == nullptr) return {};
  const ClientStats s = ours->client().stats();
  return {{"failovers", s.failovers},
          {"direct_reads", s.direct_reads},
          {"direct_read_bytes", s.direct_read_bytes},
          {"direct_metadata", s.direct_metadata},
          {"breaker_opens", s.breaker_opens},
          {"breaker_skips", s.breaker_skips},
          {"worker_errors", s.worker_errors},
          {"placement_rebuilds", s.placement_rebuilds}};
}

std::vector<std::pair<std::string, std::string>> KnownWorkers(
    const std::shared_ptr<arrow::fs::FileSystem>& fs) {
  const auto* ours = dynamic_cast<const ArrowFileSystem*>(fs.get());
  if (ours == nullptr) return {};
  std::vector<std::pair<std::string, std::string>> out;
  for (const WorkerRecord& worker : ours->client().Workers()) {
    out.emplace_back(worker.id, worker.address);
  }
  return out;
}

}  // namespace epochcache::arrowfs
