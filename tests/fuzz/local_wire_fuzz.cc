// Messages of the local read protocol as a worker or client receives them: any bytes are
// refused or decode to a message within the protocol's limits, which encodes back to the same
// bytes (so no two readings of one message exist).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/local_wire.h"

namespace pr = epochcache::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto type = pr::PeekLocalMessage(bytes);
  if (auto m = pr::DecodeLocalHello(bytes); m.ok()) {
    FUZZ_CHECK(type.ok() && *type == pr::LocalMessageType::kHello);
    FUZZ_CHECK(m->token.size() <= pr::kMaxLocalToken);
    FUZZ_CHECK(pr::EncodeLocalHello(*m) == bytes);
  }
  if (auto m = pr::DecodeLocalHelloAnswer(bytes); m.ok()) {
    FUZZ_CHECK(type.ok() && *type == pr::LocalMessageType::kHelloAnswer);
    FUZZ_CHECK(pr::EncodeLocalHelloAnswer(*m) == bytes);
  }
  if (auto m = pr::DecodeLocalRead(bytes); m.ok()) {
    FUZZ_CHECK(type.ok() && *type == pr::LocalMessageType::kRead);
    FUZZ_CHECK(m->path.size() <= pr::kMaxLocalPath && m->version.size() <= pr::kMaxLocalVersion);
    FUZZ_CHECK(pr::EncodeLocalRead(*m) == bytes);
  }
  if (auto m = pr::DecodeLocalReadAnswer(bytes); m.ok()) {
    FUZZ_CHECK(type.ok() && *type == pr::LocalMessageType::kReadAnswer);
    FUZZ_CHECK(m->segments.size() <= pr::kMaxLocalSegments);
    FUZZ_CHECK(!m->hit || m->status.has_value());
    FUZZ_CHECK(!m->status || (m->status->path.size() <= pr::kMaxLocalPath &&
                              m->status->version.size() <= pr::kMaxLocalVersion));
    FUZZ_CHECK(pr::EncodeLocalReadAnswer(*m) == bytes);
  }
  return 0;
}
