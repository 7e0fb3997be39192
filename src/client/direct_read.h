// Reading pieces of a file from the under store directly, when no worker could serve them:
// contiguous pieces are read together, runs in parallel on a shared, bounded task pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "client/piece_read.h"
#include "client/task_pool.h"
#include "epochcache/under_store.h"

namespace epochcache::client {

// Reads `pieces` of version `version` of `path` (all sinks are parts of one buffer that starts
// at file offset `offset`). Runs of adjacent pieces are cut at block boundaries, so that large
// gaps read in parallel. Adds the bytes read to `bytes_read`.
Status ReadDirect(UnderStore& store, TaskPool& pool, std::string_view path,
                  const std::string& version, std::uint64_t block_size, std::uint64_t offset,
                  std::vector<Piece> pieces, std::atomic<std::uint64_t>& bytes_read);

}  // namespace epochcache::client
