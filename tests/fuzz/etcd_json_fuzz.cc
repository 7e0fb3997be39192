// etcd's JSON gateway answers and the worker records inside them: any bytes become a value or
// an error Status, never an exception or a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "epochcache/membership.h"
#include "fuzz_check.h"
#include "membership/etcd_answers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto id = epochcache::ParseEtcdLeaseGrant(body); id.ok()) FUZZ_CHECK(*id > 0);
  if (auto ttl = epochcache::ParseEtcdKeepAlive(body); ttl.ok()) FUZZ_CHECK(*ttl >= 0);
  if (auto kvs = epochcache::ParseEtcdRange(body); kvs.ok()) {
    for (const auto& [key, value] : *kvs) {
      FUZZ_CHECK(key.size() + value.size() <= size);
      (void)epochcache::WorkerRecord::FromJson(value);
    }
  }
  if (auto record = epochcache::WorkerRecord::FromJson(body); record.ok()) {
    // What was read must write back and read again to the same record.
    auto again = epochcache::WorkerRecord::FromJson(record->ToJson());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->capacity_bytes == record->capacity_bytes);
    FUZZ_CHECK(again->start_time_ms == record->start_time_ms);
  }
  return 0;
}
