"""The fsspec filesystem over the native client.

Paths are the under store's own paths, with or without a scheme: for ``target_protocol="file"``
``/data/x``, ``file:///data/x``, ``epochcache:///data/x`` and ``epochcache::file:///data/x`` name
the same file; for ``"s3"`` ``s3://bucket/k``, ``bucket/k`` (what Ray passes after stripping the
scheme) and ``epochcache://bucket/k``. A path with any other scheme is refused with a ValueError
(an ``s3://`` path given to a file target is a mistake, not the local file ``/bucket/k``). Names
returned by ``info``/``ls``/``find`` use the scheme-less form, like the target filesystem's own
fsspec implementation does.

fsspec URL chaining works as for fsspec's own chained filesystems (``simplecache::`` and the
like): ``epochcache::s3://bucket/k`` makes the target protocol ``s3``, each protocol takes its
own storage options (``epochcache={...}``, ``s3={...}``), and the target's options become
``target_options``.

All reads are exact: a file object reads precisely the range asked for, with no read-ahead,
and the native client fetches its pieces in parallel with the GIL released.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from hashlib import sha256
from typing import Any, Iterable, Optional, Sequence, Union

from fsspec.implementations.chained import ChainedFileSystem
from fsspec.spec import _Cached, make_instance
from fsspec.utils import stringify_path

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_USERINFO = re.compile(r"://[^/@]*@")
# Reads of unknown length ask for "everything"; the native client clips to the file size.
_TO_END = 1 << 62
_PROTOCOL_ALIASES = {"local": "file", "s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}
# The under stores workers can read (src/understore/open_under_store.cc), by canonical name.
_SUPPORTED_PROTOCOLS = ("file", "s3", "http", "https", "az", "gs", "hf")
_TOKEN_ENV = "EPOCHCACHE_AUTH_TOKEN"
# Digests of secrets are keyed with a random key of this process, so that a digest seen in a
# repr or a cache key cannot be checked against guessed secrets elsewhere.
_DIGEST_KEY = os.urandom(32)
# Option names (at any depth of target_options) whose string values are secrets: s3fs's
# "secret" and "token", botocore's aws_secret_access_key / aws_session_token, passwords;
# adlfs's account_key and connection_string (which holds the key) are secrets too.
_SECRET_NAME = re.compile(r"secret|token|passw|credential|account_key|connection_string",
                          re.IGNORECASE)
# How many cat_ranges reads run at once in one process.
_CAT_RANGES_THREADS = 16


class _Secret:
    """A secret string that never shows itself: repr() and str() give a keyed digest.

    fsspec builds its instance-cache token from str() of the constructor's arguments and keeps
    them as ``storage_options``; wrapped, the secret appears in neither. Equal secrets compare
    equal (and give the same digest in one process), so one token shares one instance and two
    tokens never do. Pickled, it carries its value: only secrets passed in code are wrapped.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def digest(self) -> str:
        return hmac.new(_DIGEST_KEY, self._value.encode(), sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return f"<secret {self.digest()}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.digest())

    def __reduce__(self) -> tuple[Any, ...]:
        return _Secret, (self._value,)


def _hide(value: Any) -> Any:
    return _Secret(value) if isinstance(value, str) else value


def _hide_secrets(options: Any) -> Any:
    """A copy of an options dict with every secret-named string value wrapped, at any depth."""
    if not isinstance(options, dict):
        return options
    return {k: (_hide(v) if isinstance(k, str) and _SECRET_NAME.search(k) else _hide_secrets(v))
            for k, v in options.items()}


def _reveal(value: Any) -> Any:
    if isinstance(value, _Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    return value


class _SecretsHidden(_Cached):
    """fsspec's instance cache, shown secrets only as keyed digests.

    ``_Cached`` tokenizes the constructor's arguments and keeps them as ``storage_options``
    before ``__init__`` runs, so secrets are wrapped here, on their way in.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("auth_token") is not None:
            kwargs["auth_token"] = _hide(kwargs["auth_token"])
        if "target_options" in kwargs:
            kwargs["target_options"] = _hide_secrets(kwargs["target_options"])
        elif len(args) > 1:
            args = (args[0], _hide_secrets(args[1]), *args[2:])
        return super().__call__(*args, **kwargs)


def _parse_hosts(hosts: Union[None, str, Iterable[str]]) -> list[str]:
    if hosts is None:
        return []
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    return [h.strip() for h in hosts if h and h.strip()]


def _checked_token(auth_token: Any) -> Optional["_Secret"]:
    """The auth_token option, hidden; a token that is empty or not a string is refused."""
    if auth_token is None:
        return None
    token = _hide(auth_token)
    if not isinstance(token, _Secret) or not token.reveal():
        raise ValueError("epochcache: auth_token must be a non-empty string or None")
    return token


def _resolve_workers(worker_hosts: Any, etcd_hosts: Any) -> tuple[list[str], list[str]]:
    """(static worker addresses, etcd endpoints): as given, else from the environment; one of
    the two, never both."""
    hosts = _parse_hosts(worker_hosts)
    etcd = _parse_hosts(etcd_hosts)
    if hosts and etcd:
        raise ValueError("epochcache: give either worker_hosts or etcd_hosts, not both")
    if not hosts and not etcd:
        hosts = _parse_hosts(os.environ.get("EPOCHCACHE_WORKER_HOSTS"))
        if not hosts:
            etcd = _parse_hosts(os.environ.get("EPOCHCACHE_ETCD_HOSTS"))
    if not hosts and not etcd:
        raise ValueError(
            "epochcache: no workers given; pass worker_hosts=['host:port', ...] or "
            "etcd_hosts='host:2379,...' (or set EPOCHCACHE_WORKER_HOSTS / EPOCHCACHE_ETCD_HOSTS)"
        )
    return hosts, etcd


def _canonical_protocol(protocol: str) -> str:
    """The one name of a supported protocol; ValueError naming the supported ones otherwise."""
    canonical = _PROTOCOL_ALIASES.get(protocol.lower(), protocol.lower())
    if canonical not in _SUPPORTED_PROTOCOLS:
        names = ", ".join(sorted(set(_SUPPORTED_PROTOCOLS) | set(_PROTOCOL_ALIASES)))
        raise ValueError(f"epochcache: unsupported protocol {protocol!r}; supported: {names}")
    return canonical


def _rstrip_slashes(path: str) -> str:
    """Drops trailing slashes, but keeps a root ("/", "s3://") whole."""
    match = _SCHEME.match(path)
    head, rest = (path[: match.end()], path[match.end() :]) if match else ("", path)
    if len(rest) > 1:
        rest = rest.rstrip("/") or "/"
    return head + rest


def _fallback_options(protocol: str, target_options: dict[str, Any]) -> dict[str, Any]:
    """Native options for the client's own direct reads of the target, from s3fs-style names.

    These (credentials included) stay in this process: workers read the under store with
    their own configuration and never see them.
    """
    if protocol == "file":
        return {"fallback_under_store": "/"}
    if protocol in ("http", "https"):
        return {"fallback_under_store": f"{protocol}://"}
    if protocol == "az":
        # The native store reads with the credentials of this process's environment
        # (AZURE_STORAGE_*), as a worker does. It cannot take adlfs options: given some, the
        # direct reads go through adlfs instead (_UserFilesystem), never through the native
        # store with other credentials (perhaps another account's) than the ones named.
        return {} if target_options else {"fallback_under_store": "az://"}
    if protocol != "s3":
        return {}
    target_options = _reveal(target_options)
    client_kwargs = dict(target_options.get("client_kwargs") or {})
    config_kwargs = dict(target_options.get("config_kwargs") or {})
    addressing = (config_kwargs.get("s3") or {}).get("addressing_style")
    out: dict[str, Any] = {
        "fallback_under_store": "s3://",
        "s3_endpoint_url": target_options.get("endpoint_url") or client_kwargs.get("endpoint_url"),
        "s3_region": client_kwargs.get("region_name") or target_options.get("region_name"),
        "s3_access_key_id": target_options.get("key") or client_kwargs.get("aws_access_key_id"),
        "s3_secret_access_key": (target_options.get("secret")
                                 or client_kwargs.get("aws_secret_access_key")),
        "s3_session_token": target_options.get("token") or client_kwargs.get("aws_session_token"),
        "s3_profile": target_options.get("profile"),
        "s3_anonymous": bool(target_options.get("anon", False)),
        "s3_addressing": addressing if addressing in ("path", "virtual", "auto") else None,
    }
    return {k: v for k, v in out.items() if v is not None}


# Targets whose direct reads, when the native store cannot do them, go through the fsspec
# filesystem users already have: its fsspec protocol and the package that provides it.
_USER_FILESYSTEMS = {"az": ("abfs", "adlfs"), "hf": ("hf", "huggingface_hub")}
# Answers about the request itself, from the user's filesystem: final, like the native store's.
_FINAL_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
                 ValueError)


class _UserFilesystem:
    """Direct reads of the target through the user's own fsspec filesystem (adlfs for ``az``,
    huggingface_hub's HfFileSystem for ``hf``), made from ``target_options`` as given.

    The native stores read with the credentials of the environment only; they cannot take
    these libraries' credential forms (adlfs's options, Azure AD through azure-identity, the
    Hugging Face login cached by ``huggingface-cli login``). Rather than read with other
    credentials than the ones the caller named, or not at all, the client asks the library the
    caller already uses. It answers the native client's calls (stat, list, read, readinto) in
    the native client's shapes, so every operation of EpochCacheFileSystem and its files goes
    through the one wrapper, _FallbackWarningClient. The library's filesystem is made at first
    use, never pickled: each process (and forked child) makes its own with its native client.
    """

    def __init__(self, protocol: str, target_options: dict[str, Any]) -> None:
        self.protocol = protocol
        self._fsspec_protocol, self.package = _USER_FILESYSTEMS[protocol]
        self._options = target_options  # secrets still wrapped until the filesystem is made
        self._fs: Any = None
        self._lock = threading.Lock()

    def _filesystem(self, worker_error: Exception) -> Any:
        with self._lock:
            if self._fs is None:
                import fsspec

                try:
                    self._fs = fsspec.filesystem(self._fsspec_protocol,
                                                 **_reveal(self._options))
                except ImportError as e:
                    raise type(worker_error)(
                        f"{worker_error}; reading {self.protocol}:// directly needs the package "
                        f"{self.package!r} (pip install {self.package})") from e
            return self._fs

    def call(self, op: str, worker_error: Exception, uri: str, *args: Any) -> Any:
        """The native client's `op` on `uri` done by the user's filesystem. A final answer
        (missing, refused) is raised as is; any other failure adds to the workers' error."""
        fs = self._filesystem(worker_error)
        path = uri.split("://", 1)[-1]
        try:
            return getattr(self, "_" + op)(fs, path, *args)
        except _FINAL_ERRORS:
            raise
        except Exception as e:  # noqa: BLE001 - reported with the workers' failure
            raise type(worker_error)(
                f"{worker_error}; reading the under store directly through {self.package} "
                f"failed too: {type(e).__name__}: {self._scrub(str(e))}") from None

    def _scrub(self, text: str) -> str:
        """`text` without any secret of the options (a library may echo a SAS in a URL)."""
        def secrets(options: Any) -> Iterable[str]:
            for value in (options.values() if isinstance(options, dict) else ()):
                if isinstance(value, _Secret) and value.reveal():
                    yield value.reveal()
                yield from secrets(value)

        for secret in secrets(self._options):
            text = text.replace(secret, "***")
        return text

    def _entry(self, info: dict[str, Any]) -> dict[str, Any]:
        mtime = info.get("last_modified") or info.get("mtime") or 0.0
        if isinstance(mtime, datetime):
            mtime = mtime.timestamp()
        version = info.get("etag") or info.get("blob_id") or ""
        return {"name": f"{self.protocol}://{info['name'].rstrip('/')}",
                "size": int(info.get("size") or 0), "type": info["type"],
                "mtime": float(mtime), "version": str(version).strip('"')}

    def _stat(self, fs: Any, path: str) -> dict[str, Any]:
        return self._entry(fs.info(path))

    def _list(self, fs: Any, path: str, recursive: bool) -> list[dict[str, Any]]:
        found = (fs.find(path, detail=True).values() if recursive
                 else fs.ls(path, detail=True))
        return [self._entry(e) for e in found]

    def _read(self, fs: Any, path: str, offset: int, length: int) -> bytes:
        return bytes(fs.cat_file(path, start=offset,
                                 end=None if length >= _TO_END else offset + length))

    def _readinto(self, fs: Any, path: str, offset: int, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(fs, path, offset, view.nbytes)
        view[: len(data)] = data
        return len(data)


class EpochCacheFileSystem(ChainedFileSystem, metaclass=_SecretsHidden):
    """Read-only fsspec filesystem that reads ``target_protocol`` storage through epochcache.

    Workers are found either from a static list or from etcd; each block of a file is owned by
    one worker, chosen by rendezvous hashing over the workers' stable ids, so a large file is
    read from several workers in parallel and a small one from one.

    Options (the native client's default is used for each one left out or None; see
    ``EpochCacheFileSystem.default_options()``):
        target_protocol: the under store's scheme ("file", "s3", "http", "https", "az", "gs",
            "hf"); filled in by fsspec from a chained URL such as
            ``epochcache::s3://bucket/key``.
        target_options: options of the target storage, with its fsspec library's names:
            s3fs's for "s3" (``endpoint_url``, ``key``, ``secret``, ``token``, ``anon``,
            ``profile``, ``client_kwargs={"region_name": ...}``), adlfs's for "az"
            (``account_name``, ``account_key``, ``sas_token``, ``connection_string``, ...),
            ``HfFileSystem``'s for "hf" (``token``, ``endpoint``); from a chained URL, the
            target protocol's own storage options (``s3={...}``). They are used only for this
            client's own direct reads when no worker can serve (for "az" and "hf" through
            adlfs / huggingface_hub, see _UserFilesystem); workers read the under store with
            their own configuration and credentials, and nothing here is sent to them.
        worker_hosts: workers as a list or comma-separated string of "host:port"
            (default: $EPOCHCACHE_WORKER_HOSTS).
        etcd_hosts: etcd endpoints ("host:port", several allowed, comma-separated or a list;
            default: $EPOCHCACHE_ETCD_HOSTS) where the workers of ``cluster`` register; the
            client follows them as they come and go, and keeps its last good view while etcd
            is unreachable. Give either this or worker_hosts.
        cluster: the cluster name in etcd.
        membership_refresh, etcd_timeout: seconds between reads of etcd, and for one read.
        seed_workers: [(id, address), ...] to start from when etcd cannot be read at creation.
            A pickled filesystem carries the workers its process currently sees here, so a
            process that unpickles it while etcd is down still starts.
        connect_timeout, request_timeout, metadata_ttl: seconds.
        piece_size, max_parallel_requests: how reads are split and how many pieces fly at once.
        block_size: bytes per placed block, a multiple of piece_size.
        max_workers_per_key: distinct workers tried for one piece before reading the under
            store directly.
        breaker_backoff, breaker_max_backoff: seconds a worker that failed (refused, timed
            out) is skipped before one probe request is let through; doubles per failed probe.
        direct_fallback: read the under store directly when no worker can serve (default
            True). For "file" targets this reads the path on this machine, so it suits shared
            filesystems; pass False to see worker errors instead.
        auth_token: the token of workers started with ``--auth-token-file``, sent to them as
            ``Authorization: Bearer``. When None (the default), ``$EPOCHCACHE_AUTH_TOKEN`` is
            read when the native client is made (at construction, and in a forked child at its
            first use). Pickling (Ray ships the filesystem to every worker process): a token
            passed here travels inside the pickle, since it was given in code; a token from
            the environment never does, and each process reads its own environment. Secrets
            (this token, and target_options such as ``secret`` and ``token``) never appear in
            repr(), ``storage_options``, error messages or fsspec's instance-cache token;
            different tokens get different instances. A worker refusing the token (or its
            absence) raises PermissionError at once, without trying other workers or the
            under store.
        tls_ca: path of a PEM CA bundle: talk HTTPS to the workers (started with
            ``--tls-cert/--tls-key``) and accept only certificates it signed that name the
            worker's host or IP address. ``tls=True`` does the same with the system's CAs.
        local_reads: read cached pages of a worker on this host (one started with
            ``--local-socket``, which it advertises in etcd) through its Unix socket, straight
            from its page files, with no TCP round trip (default True). Misses still go over
            HTTP.

    Instances are cached by fsspec (one per set of options and thread, as for every
    synchronous fsspec filesystem); each owns one native client, which is safe to share
    between threads. After ``os.fork()`` the child makes its own client at first use.

    ``client_stats()`` returns the client's counters (failovers, direct reads, breaker opens).
    """

    protocol = "epochcache"
    root_marker = ""
    # Neither makes a different filesystem: `fo` is the chained target's path (fsspec hands
    # the path to the caller too), and seed_workers only help a client start while etcd is down.
    _strip_tokenize_options = ("fo", "seed_workers")

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
        local_reads: Optional[bool] = None,
        seed_workers: Optional[Sequence[tuple[str, str]]] = None,
        fo: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._auth_token: Optional[_Secret] = _checked_token(auth_token)
        self.target_protocol: str = _canonical_protocol(target_protocol or "file")
        # The instance also answers to the target's scheme, so callers that match a path's
        # scheme against the filesystem's protocols (Ray Data does, for "s3://..." paths) keep
        # reading through epochcache instead of falling back to their own S3 client.
        self.protocol = ("epochcache", self.target_protocol)
        # Paths are checked against this instance's target, the way fsspec's chained caches
        # hand paths to their target filesystem.
        self._strip_protocol = self._strip_target_protocol  # type: ignore[method-assign]
        if fo is not None:
            self._strip_protocol(fo)  # a chained target path of another scheme is refused
        self.target_options: dict[str, Any] = _hide_secrets(dict(target_options or {}))
        hosts, etcd = _resolve_workers(worker_hosts, etcd_hosts)
        self.etcd_hosts: list[str] = etcd
        self._static_hosts: list[str] = hosts
        # Only what the caller gave: the native module fills in the rest from ClientOptions.
        given: dict[str, Any] = dict(
            cluster=cluster, connect_timeout=connect_timeout, request_timeout=request_timeout,
            piece_size=piece_size, block_size=block_size,
            max_parallel_requests=max_parallel_requests, metadata_ttl=metadata_ttl,
            max_workers_per_key=max_workers_per_key, breaker_backoff=breaker_backoff,
            breaker_max_backoff=breaker_max_backoff, membership_refresh=membership_refresh,
            etcd_timeout=etcd_timeout, local_reads=local_reads)
        self._client_options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if tls_ca:
            self._client_options.update(tls_ca=os.fspath(tls_ca))
        elif tls:
            self._client_options.update(tls=True)
        if etcd:
            self._client_options.update(etcd_endpoints=list(etcd))
        self.cluster: str = str(cluster) if cluster is not None else str(
            self.default_options()["cluster"])
        self._direct_fallback = bool(direct_fallback)
        self._seed_workers: list[tuple[str, str]] = [(str(i), str(a))
                                                     for i, a in (seed_workers or ())]
        self._native: Any = None
        _live[id(self)] = self
        # Fail on bad options now rather than at the first read.
        _ = self._client

    @staticmethod
    def default_options() -> dict[str, Any]:
        """The native client's default for each option (durations in seconds), as defined by
        the C++ ``epochcache::ClientOptions``."""
        from epochcache import _native

        return dict(_native.default_options())

    @property
    def worker_hosts(self) -> list[str]:
        """The workers' addresses: the static list, or those currently registered in etcd."""
        if self._static_hosts:
            return list(self._static_hosts)
        return list(self._client.worker_hosts)

    def workers(self) -> list[dict[str, Any]]:
        """The workers currently known: id, address, capacity_bytes, start_time_ms."""
        return list(self._client.workers())

    def client_stats(self) -> dict[str, int]:
        """The counters of this filesystem's native client: failovers (requests retried on
        another worker), direct_reads / direct_read_bytes / direct_metadata (served by the
        under store directly), breaker_opens, breaker_skips, worker_errors,
        placement_rebuilds."""
        return dict(self._client.stats())

    def worker_stats(self, address: str) -> dict[str, Any]:
        """A worker's /v1/stats document."""
        return json.loads(self._client.worker_stats(address))

    # ----------------------------------------------------------------------------------------
    # The native client: one per instance, made at construction so bad options fail at once;
    # a forked child makes a new one at first use (see _after_fork_in_child).

    @property
    def _client(self) -> Any:
        """This instance's native client."""
        client = self._native
        if client is None:
            with _natives_lock:
                if self._native is None:
                    self._native = self._new_client()
                client = self._native
        return client

    def _new_client(self) -> Any:
        from epochcache import _native

        options = dict(self._client_options)
        user_fs = None
        if self._direct_fallback:
            native_direct = _fallback_options(self.target_protocol, self.target_options)
            options.update(native_direct)
            if not native_direct and self.target_protocol in _USER_FILESYSTEMS:
                user_fs = _UserFilesystem(self.target_protocol, self.target_options)
        if self._auth_token is not None:
            options["auth_token"] = self._auth_token.reveal()
        elif os.environ.get(_TOKEN_ENV):
            options["auth_token"] = os.environ[_TOKEN_ENV]
        if self.etcd_hosts and self._seed_workers:
            options["seed_workers"] = list(self._seed_workers)
        return _FallbackWarningClient(_native.Client(self._static_hosts, **options), user_fs)

    def load(self, paths: Any, progress: Any = False, dry_run: bool = False,
             max_inflight_per_worker: int = 4) -> dict[str, Any]:
        """Warms the cache: every block of `paths` (files, or directories taken recursively) is
        loaded by the worker that owns it, so later reads from any client find it cached.
        Blocks already cached transfer nothing, so a second call is cheap. `progress`: True
        prints a progress line to stderr, a callable gets a dict of counts. Returns the counts
        (files_total, bytes_total, bytes_fetched, blocks_skipped, ...), 'failures' and
        'bytes_per_worker'."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        uris = [self._uri(p) for p in paths]
        callback = None
        if callable(progress):
            callback = progress
        elif progress:
            callback = _ProgressLine(sys.stderr)
        result = dict(self._client.load(uris, dry_run=dry_run,
                                        max_inflight_per_worker=max_inflight_per_worker,
                                        progress=callback))
        if isinstance(callback, _ProgressLine):
            callback.finish(result)
        return result

    def evict(self, paths: Any) -> dict[str, Any]:
        """Drops the cached pages of `paths` on every worker (the next read fetches them
        again)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        return dict(self._client.evict([self._uri(p) for p in paths]))

    def _seed_for_another_process(self) -> list[tuple[str, str]]:
        """With etcd, the workers this process sees (else the seeds it was given), so that a
        process started while etcd is down begins from this view instead of failing."""
        if not self.etcd_hosts:
            return []
        native = self._native
        if native is None:
            return list(self._seed_workers)
        return [(w["id"], w["address"]) for w in native.workers()]

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the options travel; the receiving process builds its own client. With etcd, the
        # workers this process sees travel too, as an argument: a process started while etcd
        # is down (Ray starts them at any time) begins from this view instead of failing.
        kwargs = dict(self.storage_options)
        seed = self._seed_for_another_process()
        if seed:
            kwargs["seed_workers"] = seed
        return make_instance, (type(self), self.storage_args, kwargs)

    # ----------------------------------------------------------------------------------------
    # Paths.

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """Drops "epochcache::" and "epochcache://" and trailing slashes.

        This is the class's form, used by fsspec before an instance exists (to split a chained
        URL); every instance replaces it with _strip_target_protocol, which also checks and
        drops the target's own scheme.
        """
        if isinstance(path, (list, tuple)):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("epochcache::"):
            path = path[len("epochcache::") :]
        if path.startswith("epochcache://"):
            path = path[len("epochcache://") :]
        return _rstrip_slashes(path)

    def _strip_target_protocol(self, path: Any) -> Any:
        """The scheme-less path: "epochcache" prefixes and the target's own scheme dropped; a
        path of any other scheme is a ValueError."""
        if isinstance(path, (list, tuple)):
            return [self._strip_target_protocol(p) for p in path]
        path = type(self)._strip_protocol(path)
        match = _SCHEME.match(path)
        if match is None:
            return path
        scheme = _canonical_protocol(match.group(1))
        if scheme != self.target_protocol:
            shown = _USERINFO.sub("://***@", path)
            raise ValueError(
                f"epochcache: {shown!r} is a {match.group(1)}:// path, but this filesystem reads "
                f"{self.target_protocol}:// storage (target_protocol={self.target_protocol!r}); "
                f"pass a path of that scheme or without one, or use a filesystem with "
                f"target_protocol={scheme!r} (epochcache::{scheme}://...)")
        return _rstrip_slashes(path[match.end() :]) or ("/" if scheme == "file" else "")

    def unstrip_protocol(self, name: str) -> str:
        """The fully qualified form of a name: ``epochcache://`` + the scheme-less path."""
        return f"epochcache://{self._strip_protocol(name)}"

    def _name(self, path: Any) -> str:
        """The scheme-less form used for every returned name."""
        p = self._strip_protocol(path)
        if self.target_protocol == "file" and not p.startswith("/"):
            p = "/" + p
        return p

    def _uri(self, path: Any) -> str:
        """The under store's URI for `path`, as the native client and workers expect it."""
        p = self._name(path)
        if self.target_protocol == "file":
            return p
        return f"{self.target_protocol}://{p}"

    def _entry(self, st: dict[str, Any], fallback_name: str = "") -> dict[str, Any]:
        name = self._name(st["name"]) if st.get("name") else fallback_name
        return {
            "name": name,
            "size": st["size"],
            "type": st["type"],
            "mtime": st["mtime"],
            "version": st["version"],
        }

    # ----------------------------------------------------------------------------------------
    # Metadata.

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        """Status of a file or directory: name, size, type, mtime (seconds), version."""
        return self._entry(self._client.stat(self._uri(path)), self._name(path))

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Entries directly inside a directory (a file lists as itself)."""
        uri = self._uri(path)
        try:
            entries = [self._entry(e) for e in self._client.list(uri, False)]
        except (FileNotFoundError, NotADirectoryError, ValueError):
            info = self.info(path)  # raises FileNotFoundError when nothing is there
            if info["type"] == "directory":
                raise
            entries = [info]
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: Any,
        maxdepth: Optional[int] = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Union[list[str], dict[str, dict[str, Any]]]:
        """Every file below `path` (and directories too when `withdirs`), in one request."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        base = self._name(path)
        out: dict[str, dict[str, Any]] = {}
        try:
            entries = self._client.list(self._uri(path), True)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            try:
                info = self.info(path)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "directory":
                raise
            if info is not None:
                out[info["name"]] = info
            entries = []
        prefix = base.rstrip("/") + "/"
        if entries and withdirs:
            out[base] = self.info(path)
        for st in entries:
            entry = self._entry(st)
            name = entry["name"]
            rel = name[len(prefix) :] if name.startswith(prefix) else name.rsplit("/", 1)[-1]
            parts = rel.split("/")
            if withdirs:
                # A recursive listing names files only; their parent directories are implied.
                for depth in range(1, len(parts)):
                    if maxdepth is not None and depth > maxdepth:
                        break
                    dname = prefix + "/".join(parts[:depth])
                    out.setdefault(
                        dname,
                        {"name": dname, "size": 0, "type": "directory", "mtime": 0.0,
                         "version": ""},
                    )
            if entry["type"] == "directory" and not withdirs:
                continue
            if maxdepth is None or len(parts) <= maxdepth:
                out[name] = entry
        names = sorted(out)
        if detail:
            return {n: out[n] for n in names}
        return names

    def exists(self, path: Any, **kwargs: Any) -> bool:
        """True if `path` exists; worker and permission errors are raised, not hidden."""
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path: Any) -> bool:
        try:
            return self.info(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path: Any) -> bool:
        try:
            return self.info(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def modified(self, path: Any) -> datetime:
        return datetime.fromtimestamp(self.info(path)["mtime"], tz=timezone.utc)

    def ukey(self, path: Any) -> str:
        info = self.info(path)
        return sha256(f"{info['name']}\0{info['size']}\0{info['version']}".encode()).hexdigest()

    # ----------------------------------------------------------------------------------------
    # Data.

    def cat_file(
        self, path: Any, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any
    ) -> bytes:
        """Bytes [start, end) of a file; negative values count from the end, like slices."""
        uri = self._uri(path)
        if start is None:
            start = 0
        if start >= 0 and end is None:
            return self._client.read(uri, start, _TO_END)
        if start < 0 or end is None or end < 0:
            size = int(self._client.stat(uri)["size"])
            if start < 0:
                start = max(0, size + start)
            if end is None:
                end = size
            elif end < 0:
                end = size + end
        if end <= start:
            self._client.stat(uri)  # a missing file still raises FileNotFoundError
            return b""
        return self._client.read(uri, start, end - start)

    def cat_ranges(
        self,
        paths: list[Any],
        starts: Union[int, None, list[Optional[int]]],
        ends: Union[int, None, list[Optional[int]]],
        max_gap: Optional[int] = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """Many ranges at once, read concurrently (the GIL is released during each read)."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        if not isinstance(starts, list):
            starts = [starts] * len(paths)
        if not isinstance(ends, list):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends must have the same length")

        def one(args: tuple[Any, Optional[int], Optional[int]]) -> Any:
            try:
                return self.cat_file(*args)
            except Exception as e:  # noqa: BLE001 - returned to the caller by contract
                if on_error == "return":
                    return e
                raise

        jobs = list(zip(paths, starts, ends))
        if len(jobs) <= 1:
            return [one(j) for j in jobs]
        return list(_executor().map(one, jobs))

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: Optional[int] = None,
        autocommit: bool = True,
        cache_options: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> "EpochCacheFile":
        if mode != "rb":
            raise ValueError(f"epochcache is read-only: mode {mode!r} is not supported, use 'rb'")
        info = self.info(path)
        if info["type"] == "directory":
            raise IsADirectoryError(f"{self._uri(path)} is a directory")
        return EpochCacheFile(self, info["name"], self._uri(path), int(info["size"]),
                              block_size=block_size,
                              cache_type=kwargs.get("cache_type") or "sequential",
                              cache_options=cache_options)

    # Everything that would modify storage: epochcache never writes to the under store.
    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("epochcache is a read-only filesystem")

    mkdir = makedirs = rm = rm_file = rmdir = _rm = mv = cp_file = put_file = pipe_file = touch = (
        _read_only
    )

    def to_arrow(self) -> Any:
        """This filesystem as a native ``pyarrow.fs.FileSystem`` with the same options
        (``epochcache.arrow.EpochCacheArrowFileSystem``, see docs/arrow.md): Arrow's readers
        then read through the C++ client directly instead of through Python."""
        import inspect

        from epochcache.arrow import EpochCacheArrowFileSystem

        accepted = inspect.signature(EpochCacheArrowFileSystem.__init__).parameters
        kwargs = {k: v for k, v in self.storage_options.items() if k in accepted}
        kwargs["target_protocol"] = self.target_protocol
        kwargs["target_options"] = self.target_options
        if self._auth_token is not None:
            kwargs["auth_token"] = self._auth_token
        seed = self._seed_for_another_process()
        if seed:
            kwargs["seed_workers"] = seed
        return EpochCacheArrowFileSystem(**kwargs)


class EpochCacheFile(io.RawIOBase):
    """A seekable read-only file.

    How its reads reach the cluster follows fsspec's ``cache_type`` and ``block_size`` (both
    arguments of ``fs.open``):

    - ``"sequential"`` (the default): a read that starts where the previous one ended, and is
      shorter than ``block_size``, fetches ``block_size`` bytes from there in one call (which
      the native client splits into parallel piece requests) and serves the following reads
      from them. Any other read fetches exactly the bytes asked for, straight into the
      caller's buffer. So a file read front to back in small reads goes out in large ones,
      while Parquet column chunks at scattered offsets are fetched exactly.
    - ``"none"``: every read fetches exactly the bytes asked for.
    - any other name fsspec knows (``"readahead"``, ``"bytes"``, ``"blockcache"``, ``"all"``,
      ``"first"``, ...): fsspec's own cache of that name over exact native reads, with
      ``block_size`` and ``cache_options`` as fsspec defines them.
    """

    DEFAULT_BLOCK_SIZE = 4 << 20  # the client's default placement block: one worker, in parallel pieces

    def __init__(self, fs: EpochCacheFileSystem, path: str, uri: str, size: int,
                 block_size: Optional[int] = None, cache_type: str = "sequential",
                 cache_options: Optional[dict[str, Any]] = None) -> None:
        super().__init__()
        self.fs = fs
        self.path = path
        self.name = path
        self.uri = uri
        self.size = size
        self.mode = "rb"
        self._pos = 0
        if block_size is None or block_size == "default":
            block_size = self.DEFAULT_BLOCK_SIZE
        if not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"epochcache: block_size must be a positive number of bytes, "
                             f"got {block_size!r}")
        self.blocksize = block_size
        self.cache_type = str(cache_type)
        self._cache: Any = None
        if cache_type not in ("sequential", "none"):
            import fsspec.caching

            cache_class = fsspec.caching.caches.get(cache_type)
            if cache_class is None:
                known = ", ".join(sorted(["sequential", *(k for k in fsspec.caching.caches
                                                           if k is not None)]))
                raise ValueError(f"epochcache: unknown cache_type {cache_type!r}; one of {known}")
            self._cache = cache_class(block_size, self._fetch_exact, size,
                                      **(cache_options or {}))
        # The read-ahead of "sequential": bytes [_ahead_start, _ahead_start + len(_ahead)).
        self._ahead = memoryview(b"")
        self._ahead_start = 0
        self._last_end = -1  # where the previous read ended; -1: no read yet

    def _fetch_exact(self, start: int, end: int) -> bytes:
        """fsspec's cache fetcher: bytes [start, end) of the file, exactly."""
        if end <= start:
            return b""
        return self.fs._client.read(self.uri, start, end - start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    @property
    def loc(self) -> int:
        """The current position (fsspec's name for tell())."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        offset = int(offset)
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def read(self, size: Optional[int] = -1) -> bytes:
        """Up to `size` bytes from the current position; all of the rest if size < 0 or None."""
        self._checkClosed()
        remaining = self.size - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        if self._cache is None and not self._reads_ahead(size):
            data = self.fs._client.read(self.uri, self._pos, size)
            self._advance(len(data))
            return data
        buffer = bytearray(size)
        n = self._readinto(memoryview(buffer))
        del buffer[n:]
        return bytes(buffer)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: Any) -> int:
        """Reads into a writable buffer; returns the number of bytes read."""
        self._checkClosed()
        view = memoryview(b).cast("B")
        if view.nbytes == 0 or self._pos >= self.size:
            return 0
        return self._readinto(view[: self.size - self._pos])

    def _readinto(self, view: memoryview) -> int:
        if self._cache is not None:
            data = self._cache._fetch(self._pos, self._pos + view.nbytes)
            view[: len(data)] = data
            return self._advance(len(data))
        done = 0
        if self.cache_type == "sequential":
            taken = self._from_ahead(view)
            done, view = done + taken, view[taken:]
            if view.nbytes and self._reads_ahead(view.nbytes):
                self._fill_ahead()
                taken = self._from_ahead(view)
                done, view = done + taken, view[taken:]
        if view.nbytes:
            done += self._advance(int(self.fs._client.readinto(self.uri, self._pos, view)))
        return done

    def _reads_ahead(self, n: int) -> bool:
        """Whether a read of n bytes at the current position goes through the read-ahead."""
        if self.cache_type != "sequential":
            return False
        offset = self._pos - self._ahead_start
        in_ahead = 0 <= offset < len(self._ahead)
        return in_ahead or (self._pos == self._last_end and n < self.blocksize)

    def _from_ahead(self, view: memoryview) -> int:
        """Copies what the read-ahead holds at the current position into view."""
        offset = self._pos - self._ahead_start
        if not 0 <= offset < len(self._ahead):
            return 0
        take = min(view.nbytes, len(self._ahead) - offset)
        view[:take] = self._ahead[offset:offset + take]
        return self._advance(take)

    def _fill_ahead(self) -> None:
        length = min(self.blocksize, self.size - self._pos)
        buffer = bytearray(length)
        n = int(self.fs._client.readinto(self.uri, self._pos, memoryview(buffer)))
        self._ahead = memoryview(buffer)[:n]
        self._ahead_start = self._pos

    def _advance(self, n: int) -> int:
        self._pos += n
        self._last_end = self._pos
        return n

    def info(self) -> dict[str, Any]:
        return self.fs.info(self.path)

    def __repr__(self) -> str:
        return f"<EpochCacheFile {self.uri} size={self.size} pos={self._pos}>"


# ------------------------------------------------------------------------------------------------
# Process-wide state and fork safety, all in one place.
#
# fsspec clears its instance cache in a forked child (its own at-fork hook); what is left here is
# what fsspec does not know about: the native clients, whose threads do not exist in the child,
# and the thread pool of cat_ranges. A child makes new ones at first use. The parent's native
# clients are kept alive in the child, never destroyed there: destroying one would join threads
# that do not exist. They are held from before the fork so that fsspec's cache clearing in the
# child (which runs before this hook) cannot drop the last reference to one.

# Every filesystem of this process, by id (instances hash by their fsspec token, and equal
# tokens do not make one instance when skip_instance_cache=True).
_live: "weakref.WeakValueDictionary[int, EpochCacheFileSystem]" = weakref.WeakValueDictionary()
# Held while a native client is made and across fork(), so a fork never copies one half made.
_natives_lock = threading.Lock()
_held_across_fork: list[Any] = []
_inherited_natives: list[Any] = []  # in a forked child: the parent's, kept, never used
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """Threads for cat_ranges, one pool per process."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_CAT_RANGES_THREADS,
                                       thread_name_prefix="epochcache")
        return _pool


def _before_fork() -> None:
    _natives_lock.acquire()
    _held_across_fork[:] = [fs._native for fs in list(_live.values()) if fs._native is not None]


def _after_fork_in_parent() -> None:
    _held_across_fork.clear()
    _natives_lock.release()


def _after_fork_in_child() -> None:
    global _natives_lock, _pool, _pool_lock
    _inherited_natives.extend(_held_across_fork)
    _held_across_fork.clear()
    for fs in list(_live.values()):
        fs._native = None
    # Locks may have been held by threads that do not exist in the child.
    _natives_lock = threading.Lock()
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


# ------------------------------------------------------------------------------------------------
# No silent fallback: a read served by the under store directly (every worker for it failed) is
# logged, once at first and then at most every _FALLBACK_LOG_INTERVAL seconds per filesystem.

_log = logging.getLogger("epochcache")
_FALLBACK_LOG_INTERVAL = 60.0


class _FallbackWarningClient:
    """The native client, with a warning on the "epochcache" logger when reads go around the
    workers, and, for targets the native stores cannot read with the caller's options, the
    direct reads done by the user's own filesystem (_UserFilesystem) when no worker can
    serve. Everything else is forwarded as is."""

    def __init__(self, native: Any, user_fs: Optional[_UserFilesystem] = None) -> None:
        self._native_client = native
        self._user_fs = user_fs
        self._lock = threading.Lock()
        self._direct_seen = 0
        self._last_warning = -_FALLBACK_LOG_INTERVAL
        # What the user's filesystem served, added to the native client's counters.
        self._user_counts = {"direct_reads": 0, "direct_read_bytes": 0, "direct_metadata": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._native_client, name)

    def stat(self, path: str) -> Any:
        return self._call("stat", path)

    def list(self, path: str, recursive: bool) -> Any:
        return self._call("list", path, recursive)

    def read(self, path: str, offset: int, length: int) -> bytes:
        return self._call("read", path, offset, length)

    def readinto(self, path: str, offset: int, buffer: Any) -> int:
        return self._call("readinto", path, offset, buffer)

    def stats(self) -> dict[str, Any]:
        out = dict(self._native_client.stats())
        with self._lock:
            for name, n in self._user_counts.items():
                out[name] = int(out[name]) + n
        return out

    def _call(self, op: str, path: str, *args: Any) -> Any:
        try:
            result = getattr(self._native_client, op)(path, *args)
        except (ConnectionError, TimeoutError) as worker_error:
            # No worker could serve and the native client has no direct store for this target:
            # final answers (not found, refused) are other exceptions and never come here.
            if self._user_fs is None:
                raise
            result = self._user_fs.call(op, worker_error, path, *args)
            reads = op in ("read", "readinto")
            with self._lock:
                if reads:
                    self._user_counts["direct_reads"] += 1
                    self._user_counts["direct_read_bytes"] += (
                        result if op == "readinto" else len(result))
                else:
                    self._user_counts["direct_metadata"] += 1
            self._warn(1, path, f"through {self._user_fs.package}")
            return result
        if op in ("read", "readinto"):
            self._check(path)
        return result

    def _check(self, path: str) -> None:
        direct = int(self._native_client.stats()["direct_reads"])
        if direct == self._direct_seen:
            return
        with self._lock:
            if direct <= self._direct_seen:
                return
            new = direct - self._direct_seen
            self._direct_seen = direct
        self._warn(new, path, "")

    def _warn(self, new: int, path: str, how: str) -> None:
        """Logs a direct read, once at first and then at most every _FALLBACK_LOG_INTERVAL."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_warning < _FALLBACK_LOG_INTERVAL:
                return
            self._last_warning = now
        stats = self._native_client.stats()
        try:
            workers = [w["address"] for w in self._native_client.workers()]
        except Exception:  # noqa: BLE001 - the warning must not fail the read
            workers = []
        _log.warning(
            "epochcache: reading directly from the under store%s, bypassing the cache: workers "
            "%s failed (%s; %d worker errors, %d circuit breakers opened so far); %d request(s) "
            "served directly, e.g. %s. Further such reads are logged at most every %.0f s "
            "(see client_stats()).",
            f" {how}" if how else "", ", ".join(workers) or "(none known)",
            self._reason(workers), int(stats["worker_errors"]), int(stats["breaker_opens"]), new,
            path, _FALLBACK_LOG_INTERVAL)

    def _reason(self, workers: list[str]) -> str:
        """Why the workers failed, as one of them answers now (one request, at most once per
        warning)."""
        if not workers:
            return "no workers are known"
        try:
            self._native_client.worker_stats(workers[0])
        except Exception as e:  # noqa: BLE001 - any failure is the reason we want
            return str(e)
        return f"{workers[0]} answers again; the failed requests were refused or timed out"


class _ProgressLine:
    """fs.load(progress=True): a line on stderr with files, bytes, rate and ETA."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._start = time.monotonic()
        self._last = 0.0
        self._tty = bool(getattr(out, "isatty", lambda: False)())

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last < 0.25 and p["blocks_done"] < p["blocks_total"]:
            return
        self._last = now
        self._out.write(("\r" if self._tty else "") + self._line(p, now) +
                        ("\033[K" if self._tty else "\n"))
        self._out.flush()

    def finish(self, p: dict[str, Any]) -> None:
        self._out.write(("\r" if self._tty else "") + self._line(p, time.monotonic()) + "\n")
        self._out.flush()

    def _line(self, p: dict[str, Any], now: float) -> str:
        elapsed = max(now - self._start, 1e-3)
        rate = p["bytes_done"] / elapsed
        left = p["bytes_total"] - p["bytes_done"]
        eta = "0s" if left <= 0 else (f"{left / rate:.0f}s" if rate > 0 else "-")
        return (f"files {p['files_done']}/{p['files_total']}  bytes {_size(p['bytes_done'])}/"
                f"{_size(p['bytes_total'])}  fetched {_size(p['bytes_fetched'])}  "
                f"{_size(rate)}/s  ETA {eta}  ({p['blocks_skipped']} cached, "
                f"{p['blocks_failed']} failed)")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"
