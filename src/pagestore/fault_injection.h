// Scoped fault injection for the page store's write path, so tests can provoke errors the
// test machine cannot (a full disk, a read-only filesystem) without special mounts.
#pragma once

namespace epochcache::pagestore {

// While alive, the next `count` page-file writes fail as if the system call returned
// `error` (an errno value such as ENOSPC or EROFS). Not nestable; tests only.
class ScopedWriteFault {
 public:
  ScopedWriteFault(int error, int count);
  ~ScopedWriteFault();
  ScopedWriteFault(const ScopedWriteFault&) = delete;
  ScopedWriteFault& operator=(const ScopedWriteFault&) = delete;
};

// Called by the write path: returns an errno to fail with, or 0. One relaxed atomic load
// when no fault is armed.
int TakeWriteFault();

}  // namespace epochcache::pagestore
