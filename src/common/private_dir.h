// Directories private to the process's user: cached data and the worker id live in them, and
// other local users must not read (or plant files in) either.
#pragma once

#include <string>

#include "common/env.h"
#include "epochcache/status.h"

namespace epochcache {

// Modes for what a worker writes: umask can only narrow them.
inline constexpr unsigned kPrivateFileMode = 0600;
inline constexpr unsigned kPrivateDirMode = 0700;

// Creates `path` and its missing parents with kPrivateDirMode, and takes the group and other bits
// off `path` itself if it existed with them (left by an older version or made by hand). Existing
// parents are left as they are: they may be shared (/var/cache). Only ever narrows, so a
// directory made read-only on purpose stays so.
// Errors: NotFound (ENOTDIR) if `path` or a parent is a file; otherwise as ErrnoStatus.
Status MakePrivateDirs(Env* env, const std::string& path);

}  // namespace epochcache
