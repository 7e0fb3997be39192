// `epochcache load PATH... [--dry-run]` (warm the cache: each block loaded by its owner) and
// `epochcache evict PATH...` (drop a path's pages on every worker).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "cli/cluster_flags.h"

namespace epochcache::cli {

// The progress line: files, bytes, rate and ETA, after `elapsed`.
std::string FormatProgress(const LoadProgress& p, std::chrono::duration<double> elapsed);

class LoadCommand {
 public:
  explicit LoadCommand(CLI::App& app);
  [[nodiscard]] bool selected() const { return command_->parsed(); }
  int Run();

  std::vector<std::string> paths;
  bool dry_run = false;
  unsigned inflight_per_worker = 4;
  bool quiet = false;

 private:
  CLI::App* command_;

 public:
  ClusterFlags cluster;
};

class EvictCommand {
 public:
  explicit EvictCommand(CLI::App& app);
  [[nodiscard]] bool selected() const { return command_->parsed(); }
  int Run();

  std::vector<std::string> paths;

 private:
  CLI::App* command_;

 public:
  ClusterFlags cluster;
};

}  // namespace epochcache::cli
