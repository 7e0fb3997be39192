// epochcache._native: the native client for Python.
//
// Every call that touches the network releases the GIL, so many Python threads (Ray's and
// PyArrow's readers) can read at once. readinto() writes straight into the caller's buffer and
// read() straight into the bytes object it returns: no copy on either path.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "epochcache/client.h"

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

class PyClient {
 public:
  PyClient(std::vector<std::string> worker_hosts, double connect_timeout, double request_timeout,
           std::int64_t piece_size, std::int64_t max_parallel_requests, double metadata_ttl) {
    if (piece_size <= 0) throw nb::value_error("piece_size must be positive");
    if (max_parallel_requests <= 0) throw nb::value_error("max_parallel_requests must be positive");
    if (metadata_ttl < 0) throw nb::value_error("metadata_ttl must not be negative");
    ClientOptions options;
    options.worker_hosts = std::move(worker_hosts);
    options.connect_timeout = Seconds(connect_timeout, "connect_timeout");
    options.request_timeout = Seconds(request_timeout, "request_timeout");
    options.piece_size = static_cast<std::uint64_t>(piece_size);
    options.max_parallel_requests = static_cast<std::size_t>(max_parallel_requests);
    options.metadata_ttl =
        std::chrono::milliseconds(static_cast<std::int64_t>(metadata_ttl * 1000.0));
    hosts_ = options.worker_hosts;
    client_ = ValueOrRaise(Client::Create(std::move(options)));
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
    for (int attempt = 1;; ++attempt) {
      std::int64_t n = length;
      std::string clipped_by;  // the version whose size bounded n, if any
      if (n > kPreallocateLimit) {
        const FileStatus file = StatNoGil(path);
        const auto size = static_cast<std::int64_t>(file.size);
        n = offset >= size ? 0 : std::min(n, size - offset);
        clipped_by = file.version;
      }
      nb::bytes out = ReadExactly(path, offset, n);
      // The read may have found the file changed (and re-stat'ed it): a size taken from the
      // old version must not cut the new one short.
      if (clipped_by.empty() || attempt >= 3 || StatNoGil(path).version == clipped_by) return out;
    }
  }

  std::size_t ReadInto(const std::string& path, std::int64_t offset, nb::handle buffer) {
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

  const std::vector<std::string>& hosts() const { return hosts_; }

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

  static void CheckRange(const std::string& path, std::int64_t offset, std::int64_t length) {
    if (offset < 0) {
      throw nb::value_error(
          (path + ": negative offset " + std::to_string(offset) + " is not allowed").c_str());
    }
    if (length < 0) {
      throw nb::value_error(
          (path + ": negative length " + std::to_string(length) + " is not allowed").c_str());
    }
  }

  std::vector<std::string> hosts_;
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

  nb::class_<PyClient>(m, "Client",
                       "A connection pool to epochcache workers; safe to share between threads.")
      .def(nb::init<std::vector<std::string>, double, double, std::int64_t, std::int64_t, double>(),
           nb::arg("worker_hosts"), nb::arg("connect_timeout") = 3.0,
           nb::arg("request_timeout") = 60.0, nb::arg("piece_size") = std::int64_t{1} << 20,
           nb::arg("max_parallel_requests") = 16, nb::arg("metadata_ttl") = 10.0,
           "Timeouts and the metadata TTL are in seconds; worker_hosts are 'host:port'.")
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
      .def_prop_ro("worker_hosts", &PyClient::hosts);
}
