// Every subcommand of `epochcache`, registered on one CLI11 app, and the dispatch to the one
// that was named. Separate from main() so that tests can parse command lines.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/browse_command.h"
#include "cli/load_command.h"
#include "cli/status_command.h"
#include "cli/worker_command.h"

namespace epochcache::cli {

class Commands {
 public:
  Commands();

  // Parses `args` (without the program name). nullopt: a subcommand was parsed, call Run.
  // Otherwise the exit code, after the message (help, --version, an error) was printed to
  // `out` / `err`.
  std::optional<int> Parse(std::vector<std::string> args, std::string* out, std::string* err);
  // Runs the parsed subcommand; returns the exit code.
  int Run();

  // "worker, status, ls, ..." in registration order.
  [[nodiscard]] std::string SubcommandNames() const;

  CLI::App app;
  WorkerCommand worker;
  StatusCommand status;
  BrowseCommand ls;
  BrowseCommand stat;
  BrowseCommand cat;
  LoadCommand load;
  EvictCommand evict;
};

}  // namespace epochcache::cli
