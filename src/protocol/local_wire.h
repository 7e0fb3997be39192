// The local read protocol (docs/api.md, "Local reads"): how a client on the worker's own host
// asks for cached bytes over the worker's Unix domain socket and gets the open page files
// instead of the bytes, to read them with pread(2) itself.
//
// One SOCK_SEQPACKET message per request and per answer, so no framing is needed beyond the
// message boundary; the client sends the next request only after reading the answer. Every
// message starts with the same header (magic, protocol version, type); integers are
// little-endian, strings are a u16 length and their bytes. A connection starts with a hello
// (carrying the bearer token when the worker requires one) whose answer names the worker's
// advertised address, which the client checks against the worker it meant to reach.
//
// A read is answered either with the page file descriptors (SCM_RIGHTS, one per segment, in
// order) and where in each file the bytes lie, or with a decline: the bytes are not all cached,
// or anything else went wrong; the client then asks over HTTP, which gives the real answer. So
// this protocol has no error vocabulary of its own and cannot answer differently from HTTP.
// Either answer carries the file's status when the worker has it cached (what its HTTP stat
// would answer), so a read without a version doubles as a stat: one message learns the status
// and hands over the first pages.
//
// Pure functions; the decoders accept any bytes and never read past them (tests/fuzz).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::protocol {

// Bumped on any incompatible change; a worker declines a request of another version.
// 2: answers carry the whole status (path, type, size, mtime, version), declines too.
inline constexpr std::uint8_t kLocalWireVersion = 2;

// The largest message either side sends or accepts (a read of a path of kMaxLocalPath bytes
// fits, and so does an answer with a status of the longest path and version and either
// kMaxLocalSegments segments or a reason of up to kMaxLocalPath bytes).
inline constexpr std::size_t kMaxLocalMessage = 16384;
inline constexpr std::size_t kMaxLocalPath = 4096;
inline constexpr std::size_t kMaxLocalToken = 1024;
inline constexpr std::size_t kMaxLocalVersion = 512;
// Descriptors in one answer (the kernel's SCM_MAX_FD is 253).
inline constexpr std::size_t kMaxLocalSegments = 64;

enum class LocalMessageType : std::uint8_t {
  kHello = 1,
  kHelloAnswer = 2,
  kRead = 3,
  kReadAnswer = 4,
};

struct LocalHello {
  std::string token = {};  // empty when the client has none
};

struct LocalHelloAnswer {
  bool accepted = false;
  std::string address = {};  // the worker's advertised "host:port" (when accepted)
  // How long a client may keep the page files of an answer to serve later reads of the same
  // bytes itself (when accepted): at most the worker's verification interval, since bytes read
  // that way are not verified again. 0: not at all.
  std::uint64_t keep_ms = 0;
  std::string reason = {};  // why not (when refused)
};

struct LocalRead {
  std::string path = {};
  std::string version = {};  // empty: whichever version the worker has cached
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// Bytes [object_offset, object_offset + length) of the file are at file_offset in the page file
// sent with the segment. The worker never writes into a page file (a new fill is a new file),
// so this stays true for as long as the descriptor is held, and a client may keep it to serve
// later reads of those bytes of that version (within the worker's verification interval).
struct LocalSegment {
  std::uint64_t object_offset = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;
};

struct LocalReadAnswer {
  bool hit = false;
  // The file's status as the worker has it cached: always with a hit; with a decline when the
  // worker has it (its path no longer than kMaxLocalPath, its version than kMaxLocalVersion).
  std::optional<FileStatus> status = {};
  // A hit: the segments, in order and contiguous, which cover at least the requested bytes
  // clipped to the size (whole pages when they are all cached, so that the client can keep
  // them for reads nearby).
  std::vector<LocalSegment> segments = {};
  // A decline: why (for logs and tests; the client asks over HTTP either way).
  std::string reason = {};
};

std::string EncodeLocalHello(const LocalHello& m);
std::string EncodeLocalHelloAnswer(const LocalHelloAnswer& m);
std::string EncodeLocalRead(const LocalRead& m);
std::string EncodeLocalReadAnswer(const LocalReadAnswer& m);

// The type of a message whose header is valid, or InvalidArgument naming what is wrong
// (too short, not this protocol, another version, an unknown type).
Result<LocalMessageType> PeekLocalMessage(std::string_view bytes);

// Each decoder checks the header (and type), every length against the bytes and the limits
// above, and that nothing follows the last field.
Result<LocalHello> DecodeLocalHello(std::string_view bytes);
Result<LocalHelloAnswer> DecodeLocalHelloAnswer(std::string_view bytes);
Result<LocalRead> DecodeLocalRead(std::string_view bytes);
Result<LocalReadAnswer> DecodeLocalReadAnswer(std::string_view bytes);

}  // namespace epochcache::protocol
