// Whether this process is a fork of the one that made something: pooled connections (TCP and
// local) must never be shared by a parent and its child, which would read each other's answers.
#pragma once

#include <cstdint>

namespace epochcache::client {

// Forks of this process (and of its ancestors, as the count is inherited), counted in each
// child by a pthread_atfork handler: comparing a count is free where getpid() is a system call.
// UINT64_MAX when forks cannot be counted (the handler could not be registered).
std::uint64_t ForkCount();

// Remembers the fork count when made; Forked() tells whether the process has forked since
// (always true when forks cannot be counted, so a pool then never shares).
class ForkGuard {
 public:
  ForkGuard() : forks_(ForkCount()) {}
  [[nodiscard]] bool Forked() const;

 private:
  const std::uint64_t forks_;
};

}  // namespace epochcache::client
