// `epochcache`: one command for every role, dispatched by subcommand.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/worker_command.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"epochcache: a distributed read-through cache for training data"};
  app.require_subcommand(1);
  epochcache::cli::WorkerCommand worker(app);
  // Further subcommands (status, ls, stat, cat, load) register here the same way.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (worker.selected()) return worker.Run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing is meant to throw past a command (I/O paths return Status), but an exception that
  // still does (out of memory while starting) ends the process with its message, not abort().
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epochcache: %s\n", e.what());
    return 1;
  }
}
