#include "protocol/local_wire.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace epochcache::protocol {
namespace {

constexpr std::string_view kMagic = "ECLR";
constexpr std::size_t kHeaderSize = kMagic.size() + 2;  // magic, version, type

class Writer {
 public:
  explicit Writer(LocalMessageType type) {
    out_.append(kMagic);
    U8(kLocalWireVersion);
    U8(static_cast<std::uint8_t>(type));
  }
  void U8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(std::uint16_t v) { Little(v, 2); }
  void U64(std::uint64_t v) { Little(v, 8); }
  // Callers keep strings within their limits (which fit a u16); longer ones are cut there, so
  // the decoder refuses the message rather than misreading it.
  void Str(std::string_view s) {
    const std::size_t n = std::min<std::size_t>(s.size(), 0xffff);
    U16(static_cast<std::uint16_t>(n));
    out_.append(s.substr(0, n));
  }
  std::string Take() { return std::move(out_); }

 private:
  void Little(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) U8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool U8(std::uint8_t* v) {
    std::uint64_t x = 0;
    if (!Little(1, &x)) return false;
    *v = static_cast<std::uint8_t>(x);
    return true;
  }
  bool U16(std::uint16_t* v) {
    std::uint64_t x = 0;
    if (!Little(2, &x)) return false;
    *v = static_cast<std::uint16_t>(x);
    return true;
  }
  bool U64(std::uint64_t* v) { return Little(8, v); }
  bool Str(std::size_t max, std::string* s) {
    std::uint16_t n = 0;
    if (!U16(&n) || n > max || n > rest_.size()) return false;
    s->assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return true;
  }
  [[nodiscard]] bool done() const { return rest_.empty(); }

 private:
  bool Little(int bytes, std::uint64_t* v) {
    if (rest_.size() < static_cast<std::size_t>(bytes)) return false;
    std::uint64_t x = 0;
    for (int i = 0; i < bytes; ++i) {
      x |= std::uint64_t{static_cast<unsigned char>(rest_[static_cast<std::size_t>(i)])} << (8 * i);
    }
    rest_.remove_prefix(static_cast<std::size_t>(bytes));
    *v = x;
    return true;
  }
  std::string_view rest_;
};

Status Malformed(std::string_view what) {
  return Status::InvalidArgument(fmt::format("local read protocol: malformed {}", what));
}

// The reader positioned after the header of a message that must be of type `want`.
Result<Reader> Open(std::string_view bytes, LocalMessageType want, std::string_view what) {
  EC_ASSIGN_OR_RETURN(const LocalMessageType type, PeekLocalMessage(bytes));
  if (type != want) {
    return Status::InvalidArgument(
        fmt::format("local read protocol: expected a {} (type {}), got type {}", what,
                    static_cast<int>(want), static_cast<int>(type)));
  }
  return Reader(bytes.substr(kHeaderSize));
}

}  // namespace

Result<LocalMessageType> PeekLocalMessage(std::string_view bytes) {
  if (bytes.size() > kMaxLocalMessage) {
    return Status::InvalidArgument(fmt::format(
        "local read protocol: a message of {} bytes (at most {})", bytes.size(), kMaxLocalMessage));
  }
  if (bytes.size() < kHeaderSize || bytes.substr(0, kMagic.size()) != kMagic) {
    return Status::InvalidArgument("local read protocol: not a message of this protocol");
  }
  const auto version = static_cast<std::uint8_t>(bytes[kMagic.size()]);
  if (version != kLocalWireVersion) {
    return Status::InvalidArgument(fmt::format(
        "local read protocol: version {} (this side speaks {})", version, kLocalWireVersion));
  }
  const auto type = static_cast<std::uint8_t>(bytes[kMagic.size() + 1]);
  if (type < static_cast<std::uint8_t>(LocalMessageType::kHello) ||
      type > static_cast<std::uint8_t>(LocalMessageType::kReadAnswer)) {
    return Status::InvalidArgument(
        fmt::format("local read protocol: unknown message type {}", type));
  }
  return static_cast<LocalMessageType>(type);
}

std::string EncodeLocalHello(const LocalHello& m) {
  Writer w(LocalMessageType::kHello);
  w.Str(m.token);
  return w.Take();
}

Result<LocalHello> DecodeLocalHello(std::string_view bytes) {
  EC_ASSIGN_OR_RETURN(Reader r, Open(bytes, LocalMessageType::kHello, "hello"));
  LocalHello m;
  if (!r.Str(kMaxLocalToken, &m.token) || !r.done()) return Malformed("hello");
  return m;
}

std::string EncodeLocalHelloAnswer(const LocalHelloAnswer& m) {
  Writer w(LocalMessageType::kHelloAnswer);
  w.U8(m.accepted ? 1 : 0);
  w.Str(m.accepted ? m.address : m.reason);
  if (m.accepted) w.U64(m.keep_ms);
  return w.Take();
}

Result<LocalHelloAnswer> DecodeLocalHelloAnswer(std::string_view bytes) {
  EC_ASSIGN_OR_RETURN(Reader r, Open(bytes, LocalMessageType::kHelloAnswer, "hello answer"));
  LocalHelloAnswer m;
  std::uint8_t accepted = 0;
  std::string text;
  if (!r.U8(&accepted) || accepted > 1 || !r.Str(kMaxLocalPath, &text) ||
      (accepted == 1 && !r.U64(&m.keep_ms)) || !r.done()) {
    return Malformed("hello answer");
  }
  m.accepted = accepted == 1;
  (m.accepted ? m.address : m.reason) = std::move(text);
  return m;
}

std::string EncodeLocalRead(const LocalRead& m) {
  Writer w(LocalMessageType::kRead);
  w.U64(m.offset);
  w.U64(m.length);
  w.Str(m.path);
  w.Str(m.version);
  return w.Take();
}

Result<LocalRead> DecodeLocalRead(std::string_view bytes) {
  EC_ASSIGN_OR_RETURN(Reader r, Open(bytes, LocalMessageType::kRead, "read"));
  LocalRead m;
  if (!r.U64(&m.offset) || !r.U64(&m.length) || !r.Str(kMaxLocalPath, &m.path) ||
      !r.Str(kMaxLocalVersion, &m.version) || !r.done()) {
    return Malformed("read");
  }
  return m;
}

namespace {

void WriteStatus(Writer& w, const FileStatus& st) {
  w.Str(st.path);
  w.U8(st.is_directory ? 1 : 0);
  w.U64(st.size);
  w.U64(static_cast<std::uint64_t>(st.mtime_ns));
  w.Str(st.version);
}

bool ReadStatus(Reader& r, FileStatus* st) {
  std::uint8_t directory = 0;
  std::uint64_t mtime = 0;
  if (!r.Str(kMaxLocalPath, &st->path) || !r.U8(&directory) || directory > 1 || !r.U64(&st->size) ||
      !r.U64(&mtime) || !r.Str(kMaxLocalVersion, &st->version)) {
    return false;
  }
  st->is_directory = directory == 1;
  st->mtime_ns = static_cast<std::int64_t>(mtime);
  return true;
}

}  // namespace

std::string EncodeLocalReadAnswer(const LocalReadAnswer& m) {
  Writer w(LocalMessageType::kReadAnswer);
  w.U8(m.hit ? 1 : 0);
  if (!m.hit) {
    w.Str(m.reason);
    w.U8(m.status ? 1 : 0);
    if (m.status) WriteStatus(w, *m.status);
    return w.Take();
  }
  WriteStatus(w, m.status.value_or(FileStatus{}));
  w.U16(static_cast<std::uint16_t>(std::min(m.segments.size(), kMaxLocalSegments + 1)));
  for (const auto& s : m.segments) {
    w.U64(s.object_offset);
    w.U64(s.file_offset);
    w.U64(s.length);
  }
  return w.Take();
}

Result<LocalReadAnswer> DecodeLocalReadAnswer(std::string_view bytes) {
  EC_ASSIGN_OR_RETURN(Reader r, Open(bytes, LocalMessageType::kReadAnswer, "read answer"));
  LocalReadAnswer m;
  std::uint8_t hit = 0;
  if (!r.U8(&hit) || hit > 1) return Malformed("read answer");
  m.hit = hit == 1;
  if (!m.hit) {
    std::uint8_t has_status = 0;
    if (!r.Str(kMaxLocalPath, &m.reason) || !r.U8(&has_status) || has_status > 1) {
      return Malformed("read answer");
    }
    if (has_status == 1 && !ReadStatus(r, &m.status.emplace())) return Malformed("read answer");
    if (!r.done()) return Malformed("read answer");
    return m;
  }
  std::uint16_t count = 0;
  if (!ReadStatus(r, &m.status.emplace()) || !r.U16(&count) || count > kMaxLocalSegments) {
    return Malformed("read answer");
  }
  m.segments.resize(count);
  for (auto& s : m.segments) {
    if (!r.U64(&s.object_offset) || !r.U64(&s.file_offset) || !r.U64(&s.length)) {
      return Malformed("read answer");
    }
  }
  if (!r.done()) return Malformed("read answer");
  return m;
}

}  // namespace epochcache::protocol
