#include "cli/browse_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace epochcache::cli {
namespace {

constexpr std::size_t kCatChunk = std::size_t{4} << 20;

const char* NameOf(BrowseCommand::Kind kind) {
  switch (kind) {
    case BrowseCommand::Kind::kLs:
      return "ls";
    case BrowseCommand::Kind::kStat:
      return "stat";
    case BrowseCommand::Kind::kCat:
      return "cat";
  }
  return "?";
}

const char* HelpOf(BrowseCommand::Kind kind) {
  switch (kind) {
    case BrowseCommand::Kind::kLs:
      return "list a directory through the cache";
    case BrowseCommand::Kind::kStat:
      return "show a file's status through the cache";
    case BrowseCommand::Kind::kCat:
      return "write a file's bytes to stdout, read through the cache";
  }
  return "";
}

nlohmann::json ToJson(const FileStatus& st) {
  return {{"path", st.path},
          {"type", st.is_directory ? "directory" : "file"},
          {"size", st.size},
          {"mtime_ns", st.mtime_ns},
          {"version", st.version}};
}

int Fail(const char* what, const Status& status) {
  std::fprintf(stderr, "epochcache %s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

BrowseCommand::BrowseCommand(CLI::App& app, Kind kind)
    : kind_(kind), command_(app.add_subcommand(NameOf(kind), HelpOf(kind))), cluster(*command_) {
  command_->add_option("PATH", path, "a path or URI under a worker's under-store root")->required();
  if (kind != Kind::kCat) command_->add_flag("--json", json, "print JSON");
  if (kind == Kind::kLs) command_->add_flag("-R,--recursive", recursive, "list recursively");
}

int BrowseCommand::Run() {
  auto client = cluster.Connect();
  if (!client.ok()) return Fail(NameOf(kind_), client.status());
  switch (kind_) {
    case Kind::kLs:
      return Ls(**client);
    case Kind::kStat:
      return Stat(**client);
    case Kind::kCat:
      return Cat(**client);
  }
  return 1;
}

int BrowseCommand::Ls(Client& client) {
  auto entries = client.List(path, recursive);
  if (!entries.ok()) return Fail("ls", entries.status());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *entries) out.push_back(ToJson(e));
    std::puts(out.dump(2).c_str());
    return 0;
  }
  for (const auto& e : *entries) {
    std::fputs(fmt::format("{:>14} {}{}\n", e.is_directory ? "-" : std::to_string(e.size), e.path,
                           e.is_directory ? "/" : "")
                   .c_str(),
               stdout);
  }
  return 0;
}

int BrowseCommand::Stat(Client& client) {
  auto st = client.Stat(path);
  if (!st.ok()) return Fail("stat", st.status());
  if (json) {
    std::puts(ToJson(*st).dump(2).c_str());
    return 0;
  }
  std::fputs(
      fmt::format("path: {}\ntype: {}\nsize: {}\nmtime_ns: {}\nversion: {}\n", st->path,
                  st->is_directory ? "directory" : "file", st->size, st->mtime_ns, st->version)
          .c_str(),
      stdout);
  return 0;
}

int BrowseCommand::Cat(Client& client) {
  std::vector<std::byte> buffer(kCatChunk);
  std::uint64_t offset = 0;
  for (;;) {
    auto n = client.Read(path, offset, buffer);
    if (!n.ok()) return Fail("cat", n.status());
    if (*n == 0) break;
    if (std::fwrite(buffer.data(), 1, *n, stdout) != *n) {
      return Fail("cat", Status::IoError("cannot write to stdout"));
    }
    offset += *n;
  }
  return std::fflush(stdout) == 0 ? 0 : Fail("cat", Status::IoError("cannot write to stdout"));
}

}  // namespace epochcache::cli
