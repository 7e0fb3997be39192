"""epochcache as a native pyarrow filesystem.

``EpochCacheArrowFileSystem`` is a ``pyarrow.fs.FileSystem`` whose every call goes straight to the
C++ client (src/arrow/): Arrow's Parquet and dataset readers ask it for byte ranges from their
own threads, and the bytes land in Arrow buffers with no Python, no GIL and no copy in between.
Compare the fsspec filesystem, which Arrow (and Ray Data) can only use through
``PyFileSystem(FSSpecHandler(...))``: every read crosses into Python.

    from epochcache.arrow import EpochCacheArrowFileSystem
    fs = EpochCacheArrowFileSystem(target_protocol="s3", worker_hosts=["10.0.0.5:7070"])
    table = pq.read_table("bucket/data/part-0.parquet", filesystem=fs)
    ds = ray.data.read_parquet("s3://bucket/data", filesystem=fs)

It takes the options of ``epochcache.EpochCacheFileSystem`` (``EpochCacheFileSystem(...).to_arrow()``
makes one from an fsspec filesystem) and reads the same paths, with or without the target's
scheme. It is read-only, picklable (Ray ships it to its workers), and must run with the pyarrow
version it was built against: importing this module checks that. See docs/arrow.md.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Optional, Sequence, Union
from urllib.parse import parse_qs, urlsplit

import pyarrow  # loads libarrow before epochcache._arrow links against it
import pyarrow.fs


def _pinned_version() -> str:
    try:
        from epochcache._arrow_version import PYARROW_VERSION
    except ImportError:
        raise ImportError(
            "epochcache.arrow: this epochcache was built without the native Arrow filesystem "
            "(pyarrow or Cython was not installed when it was built); install pyarrow and Cython "
            "and rebuild it (pip install --no-build-isolation .)") from None
    return PYARROW_VERSION


_BUILT_WITH = _pinned_version()
if pyarrow.__version__ != _BUILT_WITH:
    raise ImportError(
        f"epochcache.arrow was built against pyarrow {_BUILT_WITH}, but pyarrow "
        f"{pyarrow.__version__} is installed: Arrow's C++ library has no stable ABI, so the "
        f"native filesystem must be rebuilt for it (pip install --no-build-isolation "
        f"--force-reinstall epochcache), or install pyarrow=={_BUILT_WITH}")

from epochcache import _arrow  # noqa: E402  (only after the version check)
from epochcache.filesystem import (  # noqa: E402
    _TOKEN_ENV,
    _canonical_protocol,
    _checked_token,
    _fallback_options,
    _hide_secrets,
    _parse_hosts,
    _resolve_workers,
    _reveal,
    _Secret,
)

__all__ = ["EpochCacheArrowFileSystem"]

def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# Unpickled filesystems of this process, by their options: Ray pickles the filesystem into every
# read task, and a new native client per task would start with no statuses, no connections and no
# kept page files, paying a status round trip per file of every task. As fsspec's instance cache
# does for the fsspec filesystem, equal options unpickle to the filesystem already built here.
# Bounded (a process rarely sees more than a few sets of options); a forked child starts afresh.
_REBUILT_MAX = 16
_rebuilt: "OrderedDict[str, EpochCacheArrowFileSystem]" = OrderedDict()
_rebuilt_pid = os.getpid()
_rebuilt_lock = threading.Lock()


def _rebuilt_key(what: Any) -> str:
    """What makes two rebuilt filesystems the same: the options (secrets appear as keyed
    digests, so different tokens never share one) and the environment variables options left
    unset are read from. seed_workers are not: they only help a client start without etcd."""
    if isinstance(what, dict):
        what = sorted((k, v) for k, v in what.items() if k != "seed_workers")
    env = [os.environ.get(name) for name in (
        "EPOCHCACHE_WORKER_HOSTS", "EPOCHCACHE_ETCD_HOSTS", _TOKEN_ENV)]
    return repr((what, [None if v is None else _Secret(v) for v in env]))


def _reused(key: str, build: Any) -> "EpochCacheArrowFileSystem":
    global _rebuilt_pid
    with _rebuilt_lock:
        if _rebuilt_pid != os.getpid():
            _rebuilt.clear()
            _rebuilt_pid = os.getpid()
        fs = _rebuilt.get(key)
        if fs is not None:
            _rebuilt.move_to_end(key)
            return fs
    fs = build()
    with _rebuilt_lock:
        fs = _rebuilt.setdefault(key, fs)
        while len(_rebuilt) > _REBUILT_MAX:
            _rebuilt.popitem(last=False)
    return fs


def _rebuild(kwargs: dict[str, Any]) -> "EpochCacheArrowFileSystem":
    return _reused(_rebuilt_key(kwargs), lambda: EpochCacheArrowFileSystem(**kwargs))


def _rebuild_from_uri(uri: str) -> "EpochCacheArrowFileSystem":
    return _reused(_rebuilt_key(uri), lambda: EpochCacheArrowFileSystem.from_uri(uri)[0])


class _Handler(pyarrow.fs.FileSystemHandler):
    """The Python handler of the PyFileSystem facade pyarrow sees (src/arrow/py_facade.h).

    Unused by the filesystem itself: pyarrow calls the facade's C++ methods directly. It serves
    only the plain ``pyarrow.fs.PyFileSystem`` pyarrow makes when it wraps the facade back into
    Python (a dataset fragment's ``.filesystem``): that object's pickle carries this handler,
    which rebuilds the native filesystem from its options in the receiving process and
    forwards to it. It holds the options, never the filesystem it belongs to (no cycle).
    """

    def __init__(self, rebuild: Any, args: tuple[Any, ...]) -> None:
        self._rebuild = (rebuild, args)
        self._fs: Optional[EpochCacheArrowFileSystem] = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _Handler, self._rebuild

    def _target(self) -> "EpochCacheArrowFileSystem":
        if self._fs is None:
            rebuild, args = self._rebuild
            self._fs = rebuild(*args)
        return self._fs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Handler) and other._rebuild == self._rebuild

    def get_type_name(self) -> str:
        return "epochcache"

    def normalize_path(self, path: str) -> str:
        return self._target().normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[Any]:
        return self._target().get_file_info(paths)

    def get_file_info_selector(self, selector: Any) -> list[Any]:
        return self._target().get_file_info(selector)

    def open_input_stream(self, path: str) -> Any:
        return self._target().open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self._target().open_input_file(path)

    def _read_only(self, *args: Any) -> Any:
        raise NotImplementedError("epochcache is a read-only filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = (
        move) = copy_file = open_output_stream = open_append_stream = _read_only


class EpochCacheArrowFileSystem(_arrow.ArrowFileSystemBase):
    """A read-only ``pyarrow.fs.FileSystem`` over epochcache (type_name ``"epochcache"``).

    Options are those of ``epochcache.EpochCacheFileSystem`` (see its docstring): the target
    (``target_protocol``, ``target_options``: used only for this process's direct reads of the
    under store when no worker can serve), the workers (``worker_hosts`` or ``etcd_hosts``, else
    $EPOCHCACHE_WORKER_HOSTS / $EPOCHCACHE_ETCD_HOSTS), the client's timeouts and sizes,
    ``direct_fallback``, ``auth_token`` (else $EPOCHCACHE_AUTH_TOKEN), ``tls_ca``/``tls``.

    The direct reads are the native client's: "file", "s3", "http(s)", and "az" without
    target_options (the environment's credentials). Targets the fsspec filesystem reads
    directly through adlfs or huggingface_hub ("az" with adlfs options, "hf") have no direct
    fallback here: worker errors are raised.

    Pickled (Ray ships it to every worker process), it carries the options it was given, the
    auth token included when passed in code (never one read from the environment), and with
    etcd the workers this process sees, so a process started while etcd is down still starts.
    Unpickled where one with the same options was already unpickled, it is that one (as fsspec
    reuses its instances): Ray's read tasks in one worker process share one client, its
    statuses, connections and page files.
    """

    def __init__(
        self,
        target_protocol: str = "file",
        target_options: Optional[dict[str, Any]] = None,
        worker_hosts: Union[None, str, Sequence[str]] = None,
        etcd_hosts: Union[None, str, Sequence[str]] = None,
        cluster: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        request_timeout: Optional[float] = None,
        piece_size: Optional[int] = None,
        block_size: Optional[int] = None,
        max_parallel_requests: Optional[int] = None,
        metadata_ttl: Optional[float] = None,
        max_workers_per_key: Optional[int] = None,
        breaker_backoff: Optional[float] = None,
        breaker_max_backoff: Optional[float] = None,
        membership_refresh: Optional[float] = None,
        etcd_timeout: Optional[float] = None,
        direct_fallback: bool = True,
        auth_token: Union[None, str, _Secret] = None,
        tls_ca: Union[None, str, "os.PathLike[str]"] = None,
        tls: bool = False,
        seed_workers: Optional[Sequence[tuple[str, str]]] = None,
    ) -> None:
        given = dict(cluster=cluster, connect_timeout=connect_timeout,
                     request_timeout=request_timeout, piece_size=piece_size,
                     block_size=block_size, max_parallel_requests=max_parallel_requests,
                     metadata_ttl=metadata_ttl, max_workers_per_key=max_workers_per_key,
                     breaker_backoff=breaker_backoff, breaker_max_backoff=breaker_max_backoff,
                     membership_refresh=membership_refresh, etcd_timeout=etcd_timeout)
        auth_token = _checked_token(auth_token)
        protocol = _canonical_protocol(target_protocol or "file")
        target_options = _hide_secrets(dict(target_options or {}))
        # What __reduce__ rebuilds from: the options as given (None still means "from this
        # process's environment" in the process that unpickles it).
        self._kwargs: dict[str, Any] = {
            k: v for k, v in dict(
                given, target_protocol=protocol, target_options=target_options or None,
                worker_hosts=worker_hosts, etcd_hosts=etcd_hosts,
                direct_fallback=direct_fallback, auth_token=auth_token,
                tls_ca=os.fspath(tls_ca) if tls_ca else None, tls=tls or None,
                seed_workers=[tuple(map(str, w)) for w in seed_workers] if seed_workers else None,
            ).items() if v is not None}

        hosts, etcd = _resolve_workers(worker_hosts, etcd_hosts)
        self.target_protocol = protocol
        self.worker_hosts_given = hosts
        self.etcd_hosts = etcd
        options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if hosts:
            options["worker_hosts"] = ",".join(hosts)
        if etcd:
            options["etcd_endpoints"] = ",".join(etcd)
            if seed_workers:
                options["seed_workers"] = ",".join(f"{i}={a}" for i, a in seed_workers)
        if tls_ca:
            options["tls_ca"] = os.fspath(tls_ca)
        elif tls:
            options["tls"] = True
        if direct_fallback:
            options.update(_fallback_options(protocol, target_options))
        if auth_token is not None:
            options["auth_token"] = auth_token.reveal()
        elif os.environ.get(_TOKEN_ENV):
            options["auth_token"] = os.environ[_TOKEN_ENV]
        super().__init__(protocol, [(k, _text(_reveal(v))) for k, v in options.items()],
                         _Handler(_rebuild, (dict(self._kwargs),)))

    @property
    def type_name(self) -> str:
        """"epochcache" (pyarrow's C++ layer sees "py::epochcache", see src/arrow/py_facade.h)."""
        return "epochcache"

    @classmethod
    def from_uri(cls, uri: str) -> tuple["EpochCacheArrowFileSystem", str]:
        """(filesystem, path) from ``epochcache:///data/x?worker_hosts=h:p`` or
        ``epochcache://bucket/k?target_protocol=s3&etcd_hosts=h:p``: what
        ``arrow::fs::FileSystemFromUri`` makes for C++ callers (docs/arrow.md). Other query
        items are client options; the token comes from $EPOCHCACHE_AUTH_TOKEN, never a URI.
        ``pyarrow.fs.FileSystem.from_uri`` cannot return this class (pyarrow wraps only its
        own filesystems), hence this method."""
        fs, path = cls._new_from_uri(uri, _Handler(_rebuild_from_uri, (uri,)))
        query = parse_qs(urlsplit(uri).query)
        fs._kwargs = None
        fs._uri = uri
        fs.target_protocol = _canonical_protocol(query.get("target_protocol", ["file"])[0])
        fs.worker_hosts_given = _parse_hosts(query.get("worker_hosts", [""])[0])
        fs.etcd_hosts = _parse_hosts(query.get("etcd_hosts", query.get("etcd_endpoints", [""]))[0])
        return fs, path

    def client_stats(self) -> dict[str, int]:
        """The native client's counters: failovers, direct_reads, direct_read_bytes,
        direct_metadata, breaker_opens, breaker_skips, worker_errors, placement_rebuilds."""
        return self._client_counters()

    def workers(self) -> list[tuple[str, str]]:
        """The workers currently known, as (id, address) pairs."""
        return self._known_workers()

    def __reduce__(self) -> tuple[Any, ...]:
        if self._kwargs is None:  # made by from_uri
            return _rebuild_from_uri, (self._uri,)
        kwargs = dict(self._kwargs)
        if self.etcd_hosts:
            seed = self._known_workers()
            if seed:
                kwargs["seed_workers"] = seed
        return _rebuild, (kwargs,)

    def __repr__(self) -> str:
        where = (f"worker_hosts={self.worker_hosts_given}" if self.worker_hosts_given
                 else f"etcd_hosts={self.etcd_hosts}")
        return f"<EpochCacheArrowFileSystem target_protocol={self.target_protocol!r} {where}>"
