// `epochcache`: one command for every role, dispatched by subcommand (src/cli/commands.h).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

int Main(int argc, char** argv) {
  epochcache::cli::Commands commands;
  std::string out;
  std::string err;
  if (auto code = commands.Parse(std::vector<std::string>(argv + 1, argv + argc), &out, &err)) {
    std::fputs(out.c_str(), stdout);
    std::fputs(err.c_str(), stderr);
    return *code;
  }
  return commands.Run();
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
