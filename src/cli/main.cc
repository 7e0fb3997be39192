// `epochcache`: one command for every role, dispatched by subcommand.
#include <CLI/CLI.hpp>

#include "cli/worker_command.h"

int main(int argc, char** argv) {
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
