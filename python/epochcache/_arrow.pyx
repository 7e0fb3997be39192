# cython: language_level=3
# distutils: language=c++
"""epochcache._arrow: the C++ epochcache::arrowfs::ArrowFileSystem (src/arrow/) as a subclass of
pyarrow.fs.FileSystem. Use epochcache.arrow.EpochCacheArrowFileSystem, which checks the pyarrow
version and builds the options; this module only hands the C++ object to pyarrow."""

from libc.stdint cimport uint64_t
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from pyarrow.includes.common cimport CResult, CStatus, GetResultValue
from pyarrow.includes.libarrow_fs cimport CFileSystem, CFileSystemFromUri
from pyarrow.lib cimport check_status
from pyarrow._fs cimport FileSystem

cdef extern from * nogil:
    """
    #ifndef EPOCHCACHE_PYARROW_VERSION
    #error "EPOCHCACHE_PYARROW_VERSION must be defined by the build"
    #endif
    static const char* const kPyarrowBuildVersion = EPOCHCACHE_PYARROW_VERSION;
    """
    const char* kPyarrowBuildVersion

cdef extern from "arrow/python_entry.h" namespace "epochcache::arrowfs" nogil:
    CStatus MakeFileSystem(const string& protocol, const vector[pair[string, string]]& options,
                           shared_ptr[CFileSystem]* out)
    vector[pair[string, uint64_t]] ClientCounters(const shared_ptr[CFileSystem]& fs)
    vector[pair[string, string]] KnownWorkers(const shared_ptr[CFileSystem]& fs)

cdef extern from "arrow/file_system.h" namespace "epochcache::arrowfs" nogil:
    CStatus RegisterScheme()

cdef extern from "arrow/py_facade.h" namespace "epochcache::arrowfs":
    shared_ptr[CFileSystem] MakePyFacade(object handler, shared_ptr[CFileSystem] inner)

PYARROW_BUILD_VERSION = kPyarrowBuildVersion.decode()
# arrow::fs::FileSystemFromUri("epochcache://...") for C++ callers (docs/arrow.md).
check_status(RegisterScheme())


cdef class ArrowFileSystemBase(FileSystem):
    """Makes the C++ filesystem (and its native client) from (name, text value) option pairs.

    pyarrow gets it inside a PyFacade (src/arrow/py_facade.h) with `handler` as the facade's
    Python handler, so that pyarrow can wrap it back into Python wherever it needs to."""

    cdef shared_ptr[CFileSystem] native

    def __init__(self, str target_protocol, list options, handler):
        cdef string protocol = target_protocol.encode()
        cdef vector[pair[string, string]] c_options
        cdef shared_ptr[CFileSystem] made
        cdef CStatus status
        for name, value in options:
            c_options.push_back(pair[string, string](name.encode(), value.encode()))
        with nogil:  # the client may read etcd: never hold the GIL across I/O
            status = MakeFileSystem(protocol, c_options, &made)
        check_status(status)
        self.native = made
        self.init(MakePyFacade(handler, made))

    def _client_counters(self):
        cdef vector[pair[string, uint64_t]] counters = ClientCounters(self.native)
        return {name.decode(): value for name, value in counters}

    def _known_workers(self):
        cdef vector[pair[string, string]] workers
        with nogil:
            workers = KnownWorkers(self.native)
        return [(i.decode(), a.decode()) for i, a in workers]

    @classmethod
    def _new_from_uri(cls, str uri, handler):
        """(filesystem, path) from an "epochcache://" URI, through Arrow's registry (the C++
        factory of src/arrow/uri_factory.cc); `cls.__init__` does not run."""
        cdef string c_uri = uri.encode()
        cdef string path
        cdef CResult[shared_ptr[CFileSystem]] result
        with nogil:
            result = CFileSystemFromUri(c_uri, &path)
        cdef shared_ptr[CFileSystem] made = GetResultValue(result)
        if made.get().type_name() != b"epochcache":
            raise ValueError(f"epochcache: {uri!r} is not an epochcache:// URI")
        cdef ArrowFileSystemBase self = cls.__new__(cls)
        self.native = made
        self.init(MakePyFacade(handler, made))
        return self, path.decode()
