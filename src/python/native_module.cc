// epochcache._native: the native client for Python.
//
// Every call that touches the network releases the GIL, so many Python threads (Ray's and
// PyArrow's readers) can read at once. readinto() writes straight into the caller's buffer and
// read() straight into the bytes object it returns: no copy on either path.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/client.h"
#include "epochcache/version.h"

namespace nb = nanobind;

namespace epochcache {
namespace {

// Below this a read allocates its result up front; above, it stats first so that a huge
// requested length on a small file does not allocate the requested length.
constexpr std::int64_t kPreallocateLimit = std::int64_t{4} << 20;

[[noreturn]] void Raise(const Status& status) {
  const std::string& msg = status.message();
  switch (status.code()) {
    case StatusCode::kNotFound:
      PyErr_SetObject(PyExc_FileNotFoundError, nb::make_tuple(ENOENT, msg).ptr());
      break;
    case StatusCode::kPermissionDenied:
      PyErr_SetObject(PyExc_PermissionError, nb::make_tuple(EACCES, msg).ptr());
      break;
    case StatusCode::kUnauthenticated:
      // Either side failed to prove itself: the worker refused our token, or its certificate
      // failed verification (the message says which, and what to check).
      PyErr_SetObject(
          PyExc_PermissionError,
          nb::make_tuple(EACCES, msg.find("TLS verification") != std::string::npos
                                     ? msg
                                     : msg + "; pass auth_token= to EpochCacheFileSystem or set "
                                             "the environment variable EPOCHCACHE_AUTH_TOKEN to "
                                             "the token the workers were started with "
                                             "(--auth-token-file)")
              .ptr());
      break;
    case StatusCode::kInvalidArgument:
      PyErr_SetString(PyExc_ValueError, msg.c_str());
      break;
    case StatusCode::kTimeout:
      PyErr_SetString(PyExc_TimeoutError, msg.c_str());
      break;
    case StatusCode::kUnavailable:
      PyErr_SetString(PyExc_ConnectionError, msg.c_str());
      break;
    default:
      PyErr_SetString(PyExc_OSError, status.ToString().c_str());
      break;
  }
  throw nb::python_error();
}

template <typename T>
T ValueOrRaise(Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(result).value();
}

std::chrono::milliseconds Seconds(double seconds, const char* name) {
  if (!(seconds > 0)) {
    throw nb::value_error((std::string(name) + " must be a positive number of seconds").c_str());
  }
  return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

double ToSeconds(std::chrono::milliseconds duration) {
  return static_cast<double>(duration.count()) / 1000.0;
}

nb::dict ToDict(const FileStatus& st) {
  nb::dict d;
  d["name"] = st.path;
  d["size"] = st.size;
  d["type"] = st.is_directory ? "directory" : "file";
  d["mtime"] = static_cast<double>(st.mtime_ns) / 1e9;
  d["version"] = st.version;
  return d;
}

// Holds a writable, contiguous buffer of a Python object for the duration of a read.
class WritableBuffer {
 public:
  explicit WritableBuffer(nb::handle obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_WRITABLE | PyBUF_SIMPLE) != 0) {
      throw nb::python_error();
    }
  }
  ~WritableBuffer() { PyBuffer_Release(&view_); }
  WritableBuffer(const WritableBuffer&) = delete;
  WritableBuffer& operator=(const WritableBuffer&) = delete;

  std::span<std::byte> span() {
    return {static_cast<std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
};

// Reads one keyword option, converted to T; absent (or None) leaves `out` untouched.
template <typename T>
void TakeOption(nb::dict& kwargs, const char* name, T* out) {
  if (!kwargs.contains(name)) return;
  nb::object value = kwargs[name];
  PyDict_DelItemString(kwargs.ptr(), name);
  if (value.is_none()) return;
  try {
    *out = nb::cast<T>(value);
  } catch (const nb::cast_error&) {
    throw nb::type_error((std::string("option ") + name + " has the wrong type").c_str());
  }
}

std::vector<std::string> TakeStrings(nb::dict& kwargs, const char* name) {
  std::vector<std::string> out;
  TakeOption(kwargs, name, &out);
  return out;
}

std::chrono::milliseconds TakeSeconds(nb::dict& kwargs, const char* name,
                                      std::chrono::milliseconds fallback, bool allow_zero = false) {
  double seconds = ToSeconds(fallback);
  TakeOption(kwargs, name, &seconds);
  if (allow_zero && seconds == 0) return std::chrono::milliseconds(0);
  return Seconds(seconds, name);
}

std::uint64_t TakePositive(nb::dict& kwargs, const char* name, std::uint64_t fallback) {
  std::int64_t value = static_cast<std::int64_t>(fallback);
  TakeOption(kwargs, name, &value);
  if (value <= 0) throw nb::value_error((std::string(name) + " must be positive").c_str());
  return static_cast<std::uint64_t>(value);
}

ClientOptions OptionsFromKwargs(std::vector<std::string> worker_hosts, nb::dict kwargs) {
  ClientOptions options;
  options.worker_hosts = std::move(worker_hosts);
  options.etcd_endpoints = TakeStrings(kwargs, "etcd_endpoints");
  TakeOption(kwargs, "cluster", &options.cluster);
  std::vector<std::pair<std::string, std::string>> seed;
  TakeOption(kwargs, "seed_workers", &seed);
  for (auto& [id, address] : seed) {
    options.seed_workers.push_back(WorkerRecord{std::move(id), std::move(address), 0, 0});
  }
  TakeOption(kwargs, "auth_token", &options.auth_token);
  TakeOption(kwargs, "tls", &options.tls);
  TakeOption(kwargs, "tls_ca", &options.tls_ca);
  TakeOption(kwargs, "local_reads", &options.local_reads);
  options.connect_timeout = TakeSeconds(kwargs, "connect_timeout", options.connect_timeout);
  options.request_timeout = TakeSeconds(kwargs, "request_timeout", options.request_timeout);
  options.metadata_ttl = TakeSeconds(kwargs, "metadata_ttl", options.metadata_ttl, true);
  options.membership_refresh =
      TakeSeconds(kwargs, "membership_refresh", options.membership_refresh);
  options.etcd_timeout = TakeSeconds(kwargs, "etcd_timeout", options.etcd_timeout);
  options.breaker_backoff = TakeSeconds(kwargs, "breaker_backoff", options.breaker_backoff);
  options.breaker_max_backoff =
      TakeSeconds(kwargs, "breaker_max_backoff", options.breaker_max_backoff);
  options.piece_size = TakePositive(kwargs, "piece_size", options.piece_size);
  options.block_size = TakePositive(kwargs, "block_size", options.block_size);
  options.max_parallel_requests = static_cast<std::size_t>(
      TakePositive(kwargs, "max_parallel_requests", options.max_parallel_requests));
  options.max_workers_per_key = static_cast<std::size_t>(
      TakePositive(kwargs, "max_workers_per_key", options.max_workers_per_key));
  TakeOption(kwargs, "fallback_under_store", &options.fallback_under_store);
  // Direct reads are the last resort of a read that has already waited on workers: they get
  // the same deadlines as a worker request, and few retries.
  options.fallback_options.connect_timeout = options.connect_timeout;
  options.fallback_options.request_timeout = options.request_timeout;
  options.fallback_options.operation_deadline = options.request_timeout;
  options.fallback_options.max_attempts = 3;
  S3Options& s3 = options.fallback_options.s3;
  TakeOption(kwargs, "s3_endpoint_url", &s3.endpoint_url);
  TakeOption(kwargs, "s3_region", &s3.region);
  TakeOption(kwargs, "s3_access_key_id", &s3.access_key_id);
  TakeOption(kwargs, "s3_secret_access_key", &s3.secret_access_key);
  TakeOption(kwargs, "s3_session_token", &s3.session_token);
  TakeOption(kwargs, "s3_profile", &s3.profile);
  TakeOption(kwargs, "s3_anonymous", &s3.anonymous);
  TakeOption(kwargs, "s3_addressing", &s3.addressing);
  if (!kwargs.empty()) {
    std::string names;
    for (auto [key, value] : kwargs) {
      if (!names.empty()) names += ", ";
      names += nb::cast<std::string>(nb::str(key));
    }
    throw nb::type_error(("unknown client option(s): " + names).c_str());
  }
  return options;
}

// The defaults of every option the Python front end may leave out, from a default-constructed
// ClientOptions: the one place they are defined.
nb::dict DefaultOptions() {
  const ClientOptions defaults;
  nb::dict d;
  d["cluster"] = defaults.cluster;
  d["membership_refresh"] = ToSeconds(defaults.membership_refresh);
  d["etcd_timeout"] = ToSeconds(defaults.etcd_timeout);
  d["connect_timeout"] = ToSeconds(defaults.connect_timeout);
  d["request_timeout"] = ToSeconds(defaults.request_timeout);
  d["local_reads"] = defaults.local_reads;
  d["metadata_ttl"] = ToSeconds(defaults.metadata_ttl);
  d["breaker_backoff"] = ToSeconds(defaults.breaker_backoff);
  d["breaker_max_backoff"] = ToSeconds(defaults.breaker_max_backoff);
  d["piece_size"] = defaults.piece_size;
  d["block_size"] = defaults.block_size;
  d["max_parallel_requests"] = defaults.max_parallel_requests;
  d["max_workers_per_key"] = defaults.max_workers_per_key;
  d["tls"] = defaults.tls;
  return d;
}

class PyClient {
 public:
  PyClient(std::vector<std::string> worker_hosts, const nb::kwargs& kwargs) {
    nb::dict options_left;
    for (auto [key, value] : kwargs) options_left[key] = value;
    ClientOptions options = OptionsFromKwargs(std::move(worker_hosts), options_left);
    Result<std::unique_ptr<Client>> client = Status::Internal("unset");
    {
      // Connecting to etcd may take a moment.
      nb::gil_scoped_release release;
      client = Client::Create(std::move(options));
    }
    client_ = ValueOrRaise(std::move(client));
  }

  nb::dict Stat(const std::string& path) { return ToDict(StatNoGil(path)); }

  nb::list List(const std::string& path, bool recursive) {
    Result<std::vector<FileStatus>> entries = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      entries = client_->List(path, recursive);
    }
    nb::list out;
    for (const auto& st : ValueOrRaise(std::move(entries))) out.append(ToDict(st));
    return out;
  }

  nb::bytes Read(const std::string& path, std::int64_t offset, std::int64_t length) {
    CheckRange(path, offset, length);
    // A small read gets its buffer up front and is shrunk to what was read; a large one (or
    // "to the end") is sized by the client from the version it reads, so no size taken from an
    // old version can cut a new one short and no stat of our own is needed.
    if (length <= kPreallocateLimit) return ReadExactly(path, offset, length);
    nb::object owner;  // the bytes object of the last attempt
    bool out_of_memory = false;
    Result<std::size_t> got = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      got = client_->ReadSized(
          path, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length),
          [&](std::size_t n) -> std::span<std::byte> {
            nb::gil_scoped_acquire acquire;
            owner = nb::object();  // an earlier attempt's buffer
            PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(n));
            if (bytes == nullptr) {
              PyErr_Clear();
              out_of_memory = true;
              return {};  // the client then fails the read
            }
            owner = nb::steal(bytes);
            return {reinterpret_cast<std::byte*>(PyBytes_AS_STRING(bytes)), n};
          });
    }
    if (out_of_memory) throw std::bad_alloc();
    ValueOrRaise(std::move(got));
    return nb::borrow<nb::bytes>(owner);
  }

  // The path is borrowed from the str object (its cached UTF-8), not copied: this is the call
  // made once per small read.
  std::size_t ReadInto(std::string_view path, std::int64_t offset, nb::handle buffer) {
    CheckRange(path, offset, 0);
    WritableBuffer view(buffer);
    Result<std::size_t> got = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      got = client_->Read(path, static_cast<std::uint64_t>(offset), view.span());
    }
    return ValueOrRaise(std::move(got));
  }

  std::string WorkerStats(const std::string& host) {
    Result<std::string> stats = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      stats = client_->WorkerStats(host);
    }
    return ValueOrRaise(std::move(stats));
  }

  // Client::Load with the GIL released; `progress` (a callable taking a dict, or None) is
  // called with the GIL held, after blocks complete.
  nb::dict Load(const std::vector<std::string>& paths, bool dry_run,
                std::int64_t max_inflight_per_worker, nb::object progress) {
    if (max_inflight_per_worker <= 0) throw nb::value_error("max_inflight_per_worker must be > 0");
    LoadOptions options{
        .max_inflight_per_worker = static_cast<std::size_t>(max_inflight_per_worker),
        .dry_run = dry_run};
    LoadProgressCallback callback;
    bool callback_failed = false;
    if (!progress.is_none()) {
      callback = [&](const LoadProgress& p) {
        nb::gil_scoped_acquire acquire;
        if (callback_failed) return;
        try {
          progress(ProgressDict(p));
        } catch (nb::python_error& e) {
          // A failing callback must not unwind through the load threads; the load finishes.
          callback_failed = true;
          e.discard_as_unraisable("epochcache load progress callback");
        }
      };
    }
    Result<LoadSummary> summary = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      summary = client_->Load(paths, options, callback);
    }
    const LoadSummary s = ValueOrRaise(std::move(summary));
    nb::dict d = ProgressDict(s.totals);
    nb::list failures;
    for (const auto& f : s.failures) {
      nb::dict fd;
      fd["path"] = f.path;
      fd["offset"] = f.offset;
      fd["length"] = f.length;
      fd["worker"] = f.worker;
      fd["error"] = f.status.ToString();
      failures.append(fd);
    }
    d["failures"] = failures;
    nb::dict per_worker;
    for (const auto& [worker, bytes] : s.bytes_per_worker) per_worker[worker.c_str()] = bytes;
    d["bytes_per_worker"] = per_worker;
    return d;
  }

  nb::dict Evict(const std::vector<std::string>& paths) {
    Result<EvictSummary> summary = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      summary = client_->Evict(paths);
    }
    const EvictSummary s = ValueOrRaise(std::move(summary));
    nb::dict d;
    d["files"] = s.files;
    d["pages_evicted"] = s.pages_evicted;
    nb::list failures;
    for (const auto& [worker, why] : s.failures)
      failures.append(nb::make_tuple(worker, why.ToString()));
    d["failures"] = failures;
    return d;
  }

  std::vector<std::string> hosts() const {
    std::vector<std::string> out;
    for (const auto& w : client_->Workers()) out.push_back(w.address);
    return out;
  }

  nb::list Workers() const {
    nb::list out;
    for (const auto& w : client_->Workers()) {
      nb::dict d;
      d["id"] = w.id;
      d["address"] = w.address;
      d["capacity_bytes"] = w.capacity_bytes;
      d["start_time_ms"] = w.start_time_ms;
      d["local_socket"] = w.local_socket;
      out.append(d);
    }
    return out;
  }

  std::vector<std::string> Locate(const std::string& path, std::int64_t block,
                                  std::int64_t n) const {
    if (block < 0 || n <= 0) throw nb::value_error("block must be >= 0 and n positive");
    return client_->Locate(path, static_cast<std::uint64_t>(block), static_cast<std::size_t>(n));
  }

  nb::dict Stats() const {
    const ClientStats s = client_->stats();
    nb::dict d;
    d["failovers"] = s.failovers;
    d["direct_reads"] = s.direct_reads;
    d["direct_read_bytes"] = s.direct_read_bytes;
    d["direct_metadata"] = s.direct_metadata;
    d["breaker_opens"] = s.breaker_opens;
    d["breaker_skips"] = s.breaker_skips;
    d["worker_errors"] = s.worker_errors;
    d["placement_rebuilds"] = s.placement_rebuilds;
    d["local_reads"] = s.local_reads;
    d["local_read_bytes"] = s.local_read_bytes;
    d["local_kept_reads"] = s.local_kept_reads;
    d["local_stats"] = s.local_stats;
    return d;
  }

 private:
  FileStatus StatNoGil(const std::string& path) {
    Result<FileStatus> st = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      st = client_->Stat(path);
    }
    return ValueOrRaise(std::move(st));
  }

  // Reads up to n bytes into a new bytes object, shrunk to what was read.
  nb::bytes ReadExactly(const std::string& path, std::int64_t offset, std::int64_t n) {
    PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(n));
    if (bytes == nullptr) throw nb::python_error();
    nb::object owner = nb::steal(bytes);
    Result<std::size_t> got = Status::Internal("unset");
    {
      nb::gil_scoped_release release;
      got = client_->Read(
          path, static_cast<std::uint64_t>(offset),
          {reinterpret_cast<std::byte*>(PyBytes_AS_STRING(bytes)), static_cast<std::size_t>(n)});
    }
    const std::size_t read = ValueOrRaise(std::move(got));
    if (static_cast<std::int64_t>(read) != n) {
      owner.release();
      if (_PyBytes_Resize(&bytes, static_cast<Py_ssize_t>(read)) != 0) throw nb::python_error();
      owner = nb::steal(bytes);
    }
    return nb::borrow<nb::bytes>(owner);
  }

  static nb::dict ProgressDict(const LoadProgress& p) {
    nb::dict d;
    d["files_total"] = p.files_total;
    d["files_done"] = p.files_done;
    d["bytes_total"] = p.bytes_total;
    d["bytes_done"] = p.bytes_done;
    d["bytes_fetched"] = p.bytes_fetched;
    d["blocks_total"] = p.blocks_total;
    d["blocks_done"] = p.blocks_done;
    d["blocks_skipped"] = p.blocks_skipped;
    d["blocks_failed"] = p.blocks_failed;
    return d;
  }

  static void CheckRange(std::string_view path, std::int64_t offset, std::int64_t length) {
    if (offset < 0) {
      throw nb::value_error(
          (std::string(path) + ": negative offset " + std::to_string(offset) + " is not allowed")
              .c_str());
    }
    if (length < 0) {
      throw nb::value_error(
          (std::string(path) + ": negative length " + std::to_string(length) + " is not allowed")
              .c_str());
    }
  }

  std::unique_ptr<Client> client_;
};

}  // namespace
}  // namespace epochcache

// The macro expands to C-style casts and a by-value module handle.
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast,performance-unnecessary-value-param)
NB_MODULE(_native, m) {
  using epochcache::PyClient;
  m.doc() = "The epochcache native client: parallel reads through cache workers.";
  // Filesystems cached by fsspec live until interpreter exit; that is not a leak worth a warning.
  nb::set_leak_warnings(false);

  m.attr("__version__") = EPOCHCACHE_VERSION;  // the CMake project version, defined once

  m.def("default_options", &epochcache::DefaultOptions,
        "The default of each client option (durations in seconds), from the C++ ClientOptions.");

  nb::class_<PyClient>(m, "Client",
                       "A connection pool to epochcache workers; safe to share between threads.")
      .def(nb::init<std::vector<std::string>, const nb::kwargs&>(),
           nb::arg("worker_hosts") = std::vector<std::string>(), nb::arg("options"),
           "worker_hosts are 'host:port' (or pass etcd_endpoints=[...], cluster=...). Other "
           "options: auth_token (sent as 'Authorization: Bearer'); tls_ca (PEM CA bundle "
           "verifying HTTPS workers) or tls=True (system CAs); connect_timeout, "
           "request_timeout, metadata_ttl, membership_refresh, "
           "etcd_timeout, breaker_backoff, breaker_max_backoff (seconds); piece_size, "
           "block_size, max_parallel_requests, max_workers_per_key; seed_workers ([(id, "
           "address)], used if etcd is down at creation); fallback_under_store (root "
           "URI of direct reads) with s3_endpoint_url, s3_region, s3_access_key_id, "
           "s3_secret_access_key, s3_session_token, s3_profile, s3_anonymous, s3_addressing.")
      .def("load", &PyClient::Load, nb::arg("paths"), nb::arg("dry_run") = false,
           nb::arg("max_inflight_per_worker") = 4, nb::arg("progress") = nb::none(),
           "Makes every block of `paths` resident on its owner (POST /v1/load); returns a dict "
           "of counts (files_total, bytes_total, bytes_fetched, blocks_skipped, ...) with "
           "'failures' and 'bytes_per_worker'. progress(dict) is called as blocks complete.")
      .def("evict", &PyClient::Evict, nb::arg("paths"),
           "Drops the cached pages of `paths` on every worker: dict(files, pages_evicted, "
           "failures).")
      .def("stat", &PyClient::Stat, nb::arg("path"),
           "Status of a file or directory: dict(name, size, type, mtime, version).")
      .def("list", &PyClient::List, nb::arg("path"), nb::arg("recursive") = false,
           "Entries of a directory (every file below it when recursive), sorted by name.")
      .def("read", &PyClient::Read, nb::arg("path"), nb::arg("offset"), nb::arg("length"),
           "Up to `length` bytes at `offset`, fewer only at the end of the file.")
      .def("readinto", &PyClient::ReadInto, nb::arg("path"), nb::arg("offset"), nb::arg("buffer"),
           "Reads into a writable contiguous buffer at `offset`; returns the bytes read.")
      .def("worker_stats", &PyClient::WorkerStats, nb::arg("host"),
           "The JSON text of a worker's /v1/stats.")
      .def("workers", &PyClient::Workers,
           "The workers currently known: dicts of id, address, capacity_bytes, start_time_ms, "
           "local_socket (empty when none).")
      .def("locate", &PyClient::Locate, nb::arg("path"), nb::arg("block") = 0, nb::arg("n") = 1,
           "Addresses of up to n workers for block `block` of `path`, owner first.")
      .def("stats", &PyClient::Stats,
           "Client counters: failovers, direct_reads, direct_read_bytes, direct_metadata, "
           "breaker_opens, breaker_skips, worker_errors, placement_rebuilds, local_reads, "
           "local_read_bytes, local_kept_reads, local_stats.")
      .def_prop_ro("worker_hosts", &PyClient::hosts);
}
