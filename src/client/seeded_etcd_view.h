// An etcd membership view that starts from seed workers because etcd could not be read when
// the client was created, and switches to etcd (for good) as soon as it answers.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "epochcache/membership.h"

namespace epochcache::client {

std::unique_ptr<MembershipView> MakeSeededEtcdView(EtcdOptions options,
                                                   std::chrono::milliseconds refresh,
                                                   std::vector<WorkerRecord> seed);

}  // namespace epochcache::client
