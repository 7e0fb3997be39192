// A client's etcd membership view that starts from seed workers, because etcd could not be read
// when the client was created, and switches to etcd (for good) as soon as etcd answers.
// Membership-private: only the client builds one (from ClientOptions::seed_workers).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "epochcache/membership.h"

namespace epochcache {

// Tries etcd every `refresh` on `clock` until it answers; the etcd view it then serves refreshes
// on the same clock. `clock` must outlive the view.
std::unique_ptr<MembershipView> MakeSeededEtcdView(EtcdOptions options,
                                                   std::chrono::milliseconds refresh,
                                                   std::vector<WorkerRecord> seed, Clock& clock);

}  // namespace epochcache
