// `epochcache ls | stat | cat PATH`: a file system's view of the under store, through the cache.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/cluster_flags.h"

namespace epochcache::cli {

class BrowseCommand {
 public:
  enum class Kind : std::uint8_t { kLs, kStat, kCat };

  BrowseCommand(CLI::App& app, Kind kind);
  [[nodiscard]] bool selected() const { return command_->parsed(); }
  int Run();

  std::string path;
  bool recursive = false;  // ls -R
  bool json = false;       // ls/stat --json

 private:
  int Ls(Client& client);
  int Stat(Client& client);
  int Cat(Client& client);

  Kind kind_;
  CLI::App* command_;

 public:
  ClusterFlags cluster;
};

}  // namespace epochcache::cli
