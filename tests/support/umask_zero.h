// Sets the process umask to 0 for a scope, so a test sees the modes code asks for, not what the
// umask leaves of them: a file meant to be 0600 must be 0600 even when nothing narrows it.
// The umask is per process: do not create files on other threads meanwhile.
#pragma once

#include <sys/stat.h>

namespace epochcache::testing_support {

class UmaskZero {
 public:
  UmaskZero() : old_(::umask(0)) {}
  ~UmaskZero() { ::umask(old_); }
  UmaskZero(const UmaskZero&) = delete;
  UmaskZero& operator=(const UmaskZero&) = delete;

 private:
  mode_t old_;
};

}  // namespace epochcache::testing_support
