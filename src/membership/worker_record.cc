#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/private_dir.h"
#include "epochcache/membership.h"

namespace epochcache {
namespace {

using json = nlohmann::json;

std::string ErrnoText(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe)

// An unsigned field that may be absent (then 0); anything else but a non-negative integer that
// fits is an error.
Status UnsignedField(const json& j, const char* name, std::uint64_t max, std::uint64_t* out) {
  const auto it = j.find(name);
  if (it == j.end()) return Status::Ok();
  if (!it->is_number_unsigned()) {
    return Status::InvalidArgument(fmt::format(
        "worker record: {} is a {}, not a non-negative integer", name, it->type_name()));
  }
  *out = it->get<std::uint64_t>();
  if (*out > max)
    return Status::InvalidArgument(fmt::format("worker record: {} is too large", name));
  return Status::Ok();
}

Result<std::string> StringField(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end()) return Status::InvalidArgument(fmt::format("worker record without {}", name));
  if (!it->is_string()) {
    return Status::InvalidArgument(
        fmt::format("worker record: {} is a {}, not a string", name, it->type_name()));
  }
  if (it->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument(fmt::format("worker record with an empty {}", name));
  }
  return it->get<std::string>();
}

// The first line of an existing id file; empty when there is none (or it is empty).
Result<std::string> ReadWorkerId(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return Status::IoError(fmt::format("cannot open {}: {}", path, ErrnoText(errno)));
  }
  std::array<char, 256> buffer{};
  const ssize_t got = ::read(fd, buffer.data(), buffer.size());
  const int read_err = errno;
  struct stat st {};
  // Written by an older version with a wider mode: narrow it.
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) ::fchmod(fd, st.st_mode & 0700);
  ::close(fd);
  if (got < 0) return Status::IoError(fmt::format("cannot read {}: {}", path, ErrnoText(read_err)));
  std::string id(buffer.data(), static_cast<std::size_t>(got));
  id.resize(std::min(id.find('\n'), id.size()));
  return id;
}

}  // namespace

std::string WorkerRecord::ToJson() const {
  // `replace`: an id or address that is not valid UTF-8 must not throw out of dump().
  json j{{"id", id},
         {"address", address},
         {"capacity_bytes", capacity_bytes},
         {"start_time_ms", start_time_ms}};
  if (!local_socket.empty()) j["local_socket"] = local_socket;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<WorkerRecord> WorkerRecord::FromJson(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("worker record is not a JSON object");
  }
  WorkerRecord r;
  EC_ASSIGN_OR_RETURN(r.id, StringField(j, "id"));
  EC_ASSIGN_OR_RETURN(r.address, StringField(j, "address"));
  EC_RETURN_IF_ERROR(UnsignedField(j, "capacity_bytes", std::numeric_limits<std::uint64_t>::max(),
                                   &r.capacity_bytes));
  std::uint64_t start = 0;
  EC_RETURN_IF_ERROR(
      UnsignedField(j, "start_time_ms",
                    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), &start));
  r.start_time_ms = static_cast<std::int64_t>(start);
  // Optional: older workers have none.
  if (j.contains("local_socket")) {
    EC_ASSIGN_OR_RETURN(r.local_socket, StringField(j, "local_socket"));
  }
  return r;
}

std::string WorkerKeyPrefix(std::string_view cluster) {
  return fmt::format("/epochcache/{}/workers/", cluster);
}

Result<std::string> LoadOrCreateWorkerId(const std::string& cache_dir) {
  // Private: it holds the worker id and, as the first cache dir, cached data.
  EC_RETURN_IF_ERROR(MakePrivateDirs(Env::Default(), cache_dir));
  const std::string path = cache_dir + "/worker-id";
  EC_ASSIGN_OR_RETURN(std::string existing, ReadWorkerId(path));
  if (!existing.empty()) return existing;

  std::array<std::uint32_t, 2> random{};
  if (::getrandom(random.data(), sizeof(random), 0) != static_cast<ssize_t>(sizeof(random))) {
    return Status::IoError(fmt::format("cannot draw a random worker id: {}", ErrnoText(errno)));
  }
  const std::string id = fmt::format("w-{:08x}{:08x}", random[0], random[1]);
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, kPrivateFileMode);
  if (fd < 0) return Status::IoError(fmt::format("cannot create {}: {}", tmp, ErrnoText(errno)));
  const std::string line = id + "\n";
  // fchmod: a leftover temp file keeps its old mode through O_TRUNC.
  bool ok = ::fchmod(fd, kPrivateFileMode) == 0 &&
            ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::IoError(fmt::format("cannot write {}: {}", tmp, ErrnoText(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError(fmt::format("cannot create {}: {}", path, ErrnoText(errno)));
  }
  return id;
}

}  // namespace epochcache
