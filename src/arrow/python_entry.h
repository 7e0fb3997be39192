// What the Cython module (python/epochcache/_arrow.pyx) calls: plain types in, an Arrow status
// out, so that pyarrow's check_status raises the matching Python exception.
#pragma once

#include <arrow/filesystem/filesystem.h>
#include <arrow/status.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace epochcache::arrowfs {

// A filesystem reading `protocol` storage with the client options given as (name, text value)
// pairs (client_options.h). Blocks while the client starts (etcd is read once): call it
// without the GIL.
arrow::Status MakeFileSystem(const std::string& protocol,
                             const std::vector<std::pair<std::string, std::string>>& options,
                             std::shared_ptr<arrow::fs::FileSystem>* out);

// The client counters of a filesystem made by MakeFileSystem, as (name, value) pairs.
std::vector<std::pair<std::string, std::uint64_t>> ClientCounters(
    const std::shared_ptr<arrow::fs::FileSystem>& fs);

// The workers the client of such a filesystem currently knows, as (id, address) pairs.
std::vector<std::pair<std::string, std::string>> KnownWorkers(
    const std::shared_ptr<arrow::fs::FileSystem>& fs);

}  // namespace epochcache::arrowfs
