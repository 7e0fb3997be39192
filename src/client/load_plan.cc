#include "client/load_plan.h"

#include <fmt/format.h>

#include <set>

namespace epochcache::client {

Result<std::vector<FileStatus>> ExpandFiles(Client& client, const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::InvalidArgument("no paths given");
  std::vector<FileStatus> files;
  std::set<std::string> seen;  // a path named twice (or inside a directory named) counts once
  auto add = [&](FileStatus st) {
    if (seen.insert(st.path).second) files.push_back(std::move(st));
  };
  for (const auto& path : paths) {
    auto st = client.Stat(path);
    if (!st.ok()) return st.status();
    if (!st->is_directory) {
      // Placement hashes the path as the reader spells it: keep the caller's spelling.
      st->path = path;
      add(*std::move(st));
      continue;
    }
    EC_ASSIGN_OR_RETURN(std::vector<FileStatus> entries, client.List(path, /*recursive=*/true));
    for (auto& e : entries) {
      if (!e.is_directory) add(std::move(e));
    }
  }
  return files;
}

Result<LoadPlan> PlanLoad(Client& client, const std::vector<std::string>& paths,
                          std::uint64_t block_size) {
  EC_ASSIGN_OR_RETURN(std::vector<FileStatus> files, ExpandFiles(client, paths));
  if (client.Workers().empty()) return Status::Unavailable("load: no epochcache workers are known");
  LoadPlan plan;
  for (const auto& file : files) {
    ++plan.files;
    if (file.size == 0) ++plan.empty_files;
    plan.bytes += file.size;
    for (std::uint64_t block = 0; block * block_size < file.size; ++block) {
      LoadBlock b{.path = file.path,
                  .offset = block * block_size,
                  .length = std::min(block_size, file.size - block * block_size)};
      auto owners = client.Locate(file.path, block, 1);
      if (owners.empty()) {
        plan.failures.push_back(
            LoadFailure{.path = b.path,
                        .offset = b.offset,
                        .length = b.length,
                        .worker = {},
                        .status = Status::Unavailable(
                            fmt::format("no worker owns block {} of {}", block, file.path))});
        continue;
      }
      plan.by_worker[owners.front()].push_back(std::move(b));
    }
  }
  return plan;
}

}  // namespace epochcache::client
