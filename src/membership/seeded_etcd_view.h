// A client's etcd membership view that starts from seed workers, because etcd could not be read
// when the client was created, and switches to etcd (for good) as soon as etcd answers.
// Membership-private: only the client builds one (from ClientOptions::seed_workers).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "epochcache/membership.h"

namespace epochcache {

std::unique_ptr<MembershipView> MakeSeededEtcdView(EtcdOptions options,
                                                   std::chrono::milliseconds refresh,
                                                   std::vector<WorkerRecord> seed);

}  // namespace epochcache
