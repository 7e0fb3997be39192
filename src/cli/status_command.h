// `epochcache status [--json]`: every known worker with its state and numbers (from /v1/stats).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/cluster_flags.h"
#include "epochcache/membership.h"

namespace epochcache::cli {

// One worker's row: its record, and its /v1/stats document (empty when it did not answer).
struct WorkerStatus {
  WorkerRecord record;
  std::string stats_json;
  std::string error;  // why it is down
};

// The table (or, with `json`, a JSON array) of `workers`.
std::string FormatStatus(const std::vector<WorkerStatus>& workers, bool json);

class StatusCommand {
 public:
  explicit StatusCommand(CLI::App& app);
  [[nodiscard]] bool selected() const { return command_->parsed(); }
  int Run();

  bool json = false;

 private:
  CLI::App* command_;

 public:
  ClusterFlags cluster;
};

}  // namespace epochcache::cli
