// Which file statuses can never change, so a cache needs never ask the under store again.
//
// A Hugging Face path pinned to a commit ("hf://datasets/org/name@<40 hex digits>/file") names
// bytes that can never change: a commit is immutable on the Hub. A path on a branch or tag
// ("@main", or none) can move to another commit at any time, although each of its versions
// names a commit too, so only the path's own revision counts, and it must be the commit the
// version names (anything else is a status from somewhere unexpected: treated as mutable).
#pragma once

#include "epochcache/under_store.h"

namespace epochcache {

// True when `status` describes a file whose bytes are fixed for as long as its path exists.
bool IsImmutableStatus(const FileStatus& status);

}  // namespace epochcache
