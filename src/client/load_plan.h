// The plan of a Client::Load: the files under the given paths, cut into blocks (the placement
// unit of reads), grouped by the worker that owns each block.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "epochcache/client.h"

namespace epochcache::client {

struct LoadBlock {
  std::string path;  // as the worker spells it (FileStatus::path)
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct LoadPlan {
  std::uint64_t files = 0;
  std::uint64_t empty_files = 0;  // of `files`, those with no bytes (and so no blocks)
  std::uint64_t bytes = 0;
  std::map<std::string, std::vector<LoadBlock>> by_worker;  // owner address -> its blocks
  std::vector<LoadFailure> failures;                        // blocks with no owner
};

// The files named by `paths`: a file itself, a directory's files recursively. Fails on the
// first path that cannot be stat'ed or listed.
Result<std::vector<FileStatus>> ExpandFiles(Client& client, const std::vector<std::string>& paths);

// Blocks of `block_size` bytes (the last one of a file shorter), each with its owner
// (client.Locate(path, block, 1)).
Result<LoadPlan> PlanLoad(Client& client, const std::vector<std::string>& paths,
                          std::uint64_t block_size);

}  // namespace epochcache::client
