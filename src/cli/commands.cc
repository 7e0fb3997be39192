#include "cli/commands.h"

#include <algorithm>
#include <sstream>

#include "epochcache/version.h"

namespace epochcache::cli {

Commands::Commands()
    : app("epochcache: a distributed read-through cache for training data"),
      worker(app),
      status(app),
      ls(app, BrowseCommand::Kind::kLs),
      stat(app, BrowseCommand::Kind::kStat),
      cat(app, BrowseCommand::Kind::kCat),
      load(app),
      evict(app) {
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("epochcache ") + EPOCHCACHE_VERSION);
}

std::string Commands::SubcommandNames() const {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!names.empty()) names += ", ";
    names += sub->get_name();
  }
  return names;
}

std::optional<int> Commands::Parse(std::vector<std::string> args, std::string* out,
                                   std::string* err) {
  // CLI11 would call a misspelled subcommand "an argument that was not expected" or say "A
  // subcommand is required": name it, and list what exists.
  if (!args.empty() && !args.front().empty() && args.front().front() != '-') {
    const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
    const bool known = std::any_of(subs.begin(), subs.end(), [&](const CLI::App* sub) {
      return sub->check_name(args.front());
    });
    if (!known) {
      *err = "epochcache: unknown subcommand '" + args.front() + "'; the subcommands are " +
             SubcommandNames() + " (see epochcache --help)\n";
      return 2;
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    std::ostringstream o;
    std::ostringstream e_out;
    const int code = app.exit(e, o, e_out);
    *out = o.str();
    *err = e_out.str();
    return code;
  }
  return std::nullopt;
}

int Commands::Run() {
  if (worker.selected()) return worker.Run();
  if (status.selected()) return status.Run();
  if (ls.selected()) return ls.Run();
  if (stat.selected()) return stat.Run();
  if (cat.selected()) return cat.Run();
  if (load.selected()) return load.Run();
  if (evict.selected()) return evict.Run();
  return 2;
}

}  // namespace epochcache::cli
