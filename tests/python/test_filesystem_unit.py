"""Unit tests of EpochCacheFileSystem and the native module against an in-process fake worker
(fake_worker.py), so they need no worker binary and no under store."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import pytest

_native = pytest.importorskip("epochcache._native")

from epochcache import EpochCacheFileSystem  # noqa: E402
from fake_worker import FakeWorker  # noqa: E402


BIG = os.urandom(3 * 65536 + 123)


@pytest.fixture()
def worker():
    w = FakeWorker({
        "/data/a.bin": BIG,
        "/data/sub/b.txt": b"hello",
        "/data/sub/deep/c.txt": b"deep",
        "s3://bucket/train/x.bin": b"0123456789",
    })
    yield w
    w.close()


@pytest.fixture()
def fs(worker):
    # Paths of the fake do not exist on this machine: direct reads would only hide its errors.
    return EpochCacheFileSystem(worker_hosts=[worker.address], piece_size=65536,
                                direct_fallback=False, skip_instance_cache=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_paths_with_and_without_scheme(fs):
    for p in ["/data/a.bin", "file:///data/a.bin", "epochcache:///data/a.bin", "data/a.bin",
              "/data/a.bin/", "epochcache::file:///data/a.bin", "local:///data/a.bin"]:
        assert fs._uri(p) == "/data/a.bin", p
    assert fs.unstrip_protocol("/data/a.bin") == "epochcache:///data/a.bin"
    assert fs._strip_protocol(fs.unstrip_protocol("/data/a.bin")) == "/data/a.bin"
    assert fs._strip_protocol("file:///") == "/"


def test_s3_target_readds_the_scheme(worker):
    fs = EpochCacheFileSystem(target_protocol="s3", worker_hosts=worker.address,
                              skip_instance_cache=True)
    assert fs._uri("bucket/train/x.bin") == "s3://bucket/train/x.bin"
    assert fs.cat_file("bucket/train/x.bin", 2, 5) == b"234"
    assert fs.cat_file("s3://bucket/train/x.bin") == b"0123456789"
    assert fs.info("bucket/train/x.bin")["name"] == "bucket/train/x.bin"
    assert fs.ls("s3://bucket/train", detail=False) == ["bucket/train/x.bin"]


def test_options_are_validated(worker):
    with pytest.raises(ValueError, match="not both"):
        EpochCacheFileSystem(worker_hosts=worker.address, etcd_hosts="127.0.0.1:2379",
                             skip_instance_cache=True)
    with pytest.raises(ConnectionError, match="etcd"):
        EpochCacheFileSystem(etcd_hosts=f"127.0.0.1:{_free_port()}", etcd_timeout=0.5,
                             skip_instance_cache=True)
    with pytest.raises(ValueError, match="block_size"):
        EpochCacheFileSystem(worker_hosts=worker.address, piece_size=1000, block_size=1500,
                             skip_instance_cache=True)
    with pytest.raises(ValueError, match="worker_hosts"):
        EpochCacheFileSystem(skip_instance_cache=True)
    with pytest.raises(ValueError, match="not host:port"):
        EpochCacheFileSystem(worker_hosts="nohost", skip_instance_cache=True)
    fs = EpochCacheFileSystem(worker_hosts=f" {worker.address}, {worker.address}",
                              skip_instance_cache=True)
    assert fs.worker_hosts == [worker.address, worker.address]


def test_info_ls_find(fs):
    info = fs.info("/data/a.bin")
    assert info["name"] == "/data/a.bin" and info["size"] == len(BIG) and info["type"] == "file"
    assert fs.info("/data/sub")["type"] == "directory"
    assert fs.ls("/data", detail=False) == ["/data/a.bin", "/data/sub"]
    assert fs.ls("/data/a.bin", detail=False) == ["/data/a.bin"]
    assert fs.find("/data") == ["/data/a.bin", "/data/sub/b.txt", "/data/sub/deep/c.txt"]
    assert fs.find("/data", maxdepth=2) == ["/data/a.bin", "/data/sub/b.txt"]
    assert sorted(fs.find("/data", withdirs=True)) == [
        "/data", "/data/a.bin", "/data/sub", "/data/sub/b.txt", "/data/sub/deep",
        "/data/sub/deep/c.txt"]
    assert fs.find("/data/a.bin") == ["/data/a.bin"]
    assert fs.find("/nothing") == []
    assert fs.isdir("/data/sub") and not fs.isfile("/data/sub")
    assert fs.isfile("/data/a.bin") and fs.exists("/data/a.bin") and not fs.exists("/data/zz")
    with pytest.raises(FileNotFoundError, match="/data/zz"):
        fs.info("/data/zz")
    with pytest.raises(FileNotFoundError):
        fs.ls("/data/zz")


def test_cat_file_slices_like_fsspec(fs):
    n = len(BIG)
    cases = [(None, None), (10, 20), (-100, None), (5, -5), (-10, -2), (n - 3, n + 100),
             (n + 1, n + 100), (20, 10), (65530, 65536 * 2 + 7)]
    for start, end in cases:
        assert fs.cat_file("/data/a.bin", start, end) == BIG[start:end], (start, end)
    with pytest.raises(FileNotFoundError):
        fs.cat_file("/data/zz", 5, 1)


def test_changed_file_is_read_whole_not_cut_to_the_old_size(worker):
    fs = EpochCacheFileSystem(worker_hosts=[worker.address], metadata_ttl=60.0,
                              skip_instance_cache=True)
    worker.files["/data/changing"] = b"version one"
    assert fs.cat_file("/data/changing") == b"version one"
    worker.files["/data/changing"] = b"version two, longer"
    assert fs.cat_file("/data/changing") == b"version two, longer"
    worker.files["/data/changing"] = b"v3"
    assert fs.cat_file("/data/changing", 0, 100) == b"v3"


def test_cat_ranges_in_parallel_and_errors_returned(fs):
    got = fs.cat_ranges(["/data/a.bin", "/data/sub/b.txt", "/data/zz"], [0, 1, 0], [100, 3, 1])
    assert got[0] == BIG[:100] and got[1] == b"el"
    assert isinstance(got[2], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(["/data/zz"] * 2, 0, 1, on_error="raise")


def test_file_object_reads_exact_ranges(fs, worker):
    with fs.open("/data/a.bin") as f:
        assert f.size == len(BIG) and f.readable() and f.seekable() and not f.writable()
        worker.bytes_served = 0
        f.seek(70000)
        assert f.read(1000) == BIG[70000:71000]
        assert f.tell() == 71000
        assert worker.bytes_served == 1000  # no read-ahead
        f.seek(-10, io.SEEK_END)
        assert f.read(-1) == BIG[-10:]
        assert f.read(5) == b""
        f.seek(5, io.SEEK_SET)
        f.seek(5, io.SEEK_CUR)
        assert f.read(None)[:5] == BIG[10:15]
        f.seek(len(BIG) + 10)
        assert f.read(3) == b"" and f.readinto(bytearray(3)) == 0
        with pytest.raises(ValueError):
            f.seek(-1)
    with pytest.raises(ValueError):
        f.read(1)


def test_readinto_is_zero_copy_into_any_writable_buffer(fs):
    np = pytest.importorskip("numpy")
    with fs.open("/data/a.bin") as f:
        buf = bytearray(70000)
        f.seek(100)
        assert f.readinto(buf) == 70000 and bytes(buf) == BIG[100:70100]
        arr = np.zeros(50, dtype=np.uint8)
        assert f.readinto(arr) == 50 and arr.tobytes() == BIG[70100:70150]
        big = bytearray(len(BIG))
        assert f.readinto(memoryview(big)[10:]) == len(BIG) - 70150
    client = fs._client
    out = bytearray(10)
    assert client.readinto("/data/a.bin", 5, out) == 10 and bytes(out) == BIG[5:15]
    with pytest.raises(BufferError):
        client.readinto("/data/a.bin", 0, b"read-only")
    with pytest.raises(ValueError):
        client.read("/data/a.bin", 0, -1)
    with pytest.raises(ValueError):
        client.read("/data/a.bin", -1, 1)


def test_open_modes(fs):
    # fsspec turns text modes into binary ones before they reach the filesystem.
    for mode, seen in [("wb", "wb"), ("ab", "ab"), ("w", "wb"), ("r+b", "r+b"), ("xb", "xb")]:
        with pytest.raises(ValueError, match=re.escape(f"mode {seen!r} is not supported")):
            fs.open("/data/sub/b.txt", mode)
    with fs.open("/data/sub/b.txt", "r") as f:  # text read is wrapped by fsspec
        assert f.read() == "hello"
    with pytest.raises(FileNotFoundError):
        fs.open("/data/zz")
    with pytest.raises(IsADirectoryError):
        fs.open("/data/sub")
    with pytest.raises(NotImplementedError):
        fs.rm("/data/a.bin")


@pytest.mark.parametrize("status,code,exc", [
    (403, "permission_denied", PermissionError),
    (400, "invalid_argument", ValueError),
    (504, "timeout", TimeoutError),
    (503, "unavailable", ConnectionError),
    (502, "io_error", OSError),
    (500, "internal", OSError),
])
def test_worker_errors_map_to_python_exceptions(fs, worker, status, code, exc):
    worker.status_override = (status, code)
    with pytest.raises(exc, match="/data/a.bin: injected"):
        fs.cat_file("/data/a.bin", 0, 10)


def test_unreachable_and_stalled_workers(worker):
    address = f"127.0.0.1:{_free_port()}"
    fs = EpochCacheFileSystem(worker_hosts=[address], connect_timeout=1.0,
                              direct_fallback=False, skip_instance_cache=True)
    with pytest.raises(ConnectionError, match=f"worker {address} unreachable"):
        fs.info("/data/a.bin")
    assert not isinstance(ConnectionError(), FileNotFoundError)
    with pytest.raises(ConnectionError):
        fs.exists("/data/a.bin")  # a dead worker is not a missing file
    slow = EpochCacheFileSystem(worker_hosts=[worker.address], request_timeout=0.3,
                                direct_fallback=False, skip_instance_cache=True)
    worker.delay = 2.0
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=worker.address):
        slow.info("/data/a.bin")
    assert time.monotonic() - start < 1.5


def test_gil_is_released_during_reads(fs, worker):
    fs.info("/data/a.bin")  # warm the metadata cache: each read below is one /v1/read
    # The fake worker runs in this process and answers no read until all six are in flight:
    # if a read held the GIL, neither the other readers nor the server could run, the barrier
    # would break and the reads would fail.
    worker.read_barrier = threading.Barrier(6, timeout=20)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(fs.cat_file, "/data/a.bin", i * 10, i * 10 + 5) for i in range(6)]
        results = [f.result(timeout=60) for f in futures]  # re-raises what a thread raised
    assert results == [BIG[i * 10 : i * 10 + 5] for i in range(6)]
    assert not worker.read_barrier.broken


def test_pickles_cheaply(fs):
    blob = pickle.dumps(fs)
    assert len(blob) < 1000
    clone = pickle.loads(blob)
    assert clone.cat_file("/data/sub/b.txt") == b"hello"


def _child_reads(fs: EpochCacheFileSystem, queue: Any) -> None:
    queue.put(fs.cat_file("/data/sub/b.txt"))


def test_works_in_forked_and_spawned_children(fs):
    fs.cat_file("/data/sub/b.txt")  # the parent's client exists and has threads
    for method in ["fork", "spawn"]:
        ctx = multiprocessing.get_context(method)
        queue = ctx.Queue()
        p = ctx.Process(target=_child_reads, args=(fs, queue))
        p.start()
        assert queue.get(timeout=60) == b"hello", method
        p.join(timeout=60)
        assert p.exitcode == 0, method


def test_pyarrow_reads_through_the_filesystem(worker):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": list(range(1000)), "x": [float(i) / 3 for i in range(1000)]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=100)
    worker.files["/data/t.parquet"] = sink.getvalue().to_pybytes()
    fs = EpochCacheFileSystem(worker_hosts=[worker.address], skip_instance_cache=True)
    assert pq.read_table("/data/t.parquet", filesystem=fs).equals(table)
    assert pq.read_table("/data/t.parquet", filesystem=fs, columns=["x"]).equals(
        table.select(["x"]))


# ------------------------------------------------------------------------------------------------
# Several workers: failover, direct reads, options for the client's own under-store reads.


def test_fallback_options_use_s3fs_names():
    from epochcache.filesystem import _fallback_options

    assert _fallback_options("file", {}) == {"fallback_under_store": "/"}
    assert _fallback_options("https", {}) == {"fallback_under_store": "https://"}
    assert _fallback_options("gs", {}) == {}
    opts = _fallback_options("s3", {
        "endpoint_url": "http://127.0.0.1:9000", "key": "AK", "secret": "SK", "token": "T",
        "anon": False, "client_kwargs": {"region_name": "eu-west-1"},
        "config_kwargs": {"s3": {"addressing_style": "path"}}})
    assert opts == {"fallback_under_store": "s3://", "s3_endpoint_url": "http://127.0.0.1:9000",
                    "s3_region": "eu-west-1", "s3_access_key_id": "AK",
                    "s3_secret_access_key": "SK", "s3_session_token": "T",
                    "s3_anonymous": False, "s3_addressing": "path"}
    assert _fallback_options("s3", {"anon": True})["s3_anonymous"] is True


def test_failing_worker_fails_over_to_the_other(worker):
    other = FakeWorker(dict(worker.files))
    try:
        fs = EpochCacheFileSystem(worker_hosts=[worker.address, other.address], piece_size=65536,
                                  direct_fallback=False, skip_instance_cache=True)
        assert fs.cat_file("/data/a.bin") == BIG
        owner = worker if fs._client.locate("/data/a.bin")[0] == worker.address else other
        owner.status_override = (503, "unavailable")
        assert fs.cat_file("/data/a.bin", 10, 200_000) == BIG[10:200_000]
        stats = fs.client_stats()
        assert stats["failovers"] > 0 and stats["worker_errors"] > 0
        assert stats["breaker_opens"] == 0  # it answered: alive, just failing
        # A missing file is an answer, not a failure: nobody else is asked.
        owner.status_override = None
        before = len(worker.requests) + len(other.requests)
        with pytest.raises(FileNotFoundError):
            fs.info("/data/nope")
        assert len(worker.requests) + len(other.requests) == before + 1
    finally:
        other.close()


def test_dead_workers_fall_back_to_direct_reads(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f.bin").write_bytes(data)
    dead = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    fs = EpochCacheFileSystem(worker_hosts=dead, piece_size=65536, block_size=131072,
                              skip_instance_cache=True)
    assert fs.cat_file(str(tmp_path / "f.bin"), 5, 250_000) == data[5:250_000]
    assert fs.ls(str(tmp_path), detail=False) == [str(tmp_path / "f.bin")]
    with fs.open(str(tmp_path / "f.bin")) as f:
        assert f.read() == data
    stats = fs.client_stats()
    assert stats["direct_reads"] > 0 and stats["direct_metadata"] > 0
    assert stats["breaker_opens"] == 2
    assert fs.worker_hosts == dead


def test_blocks_are_located_on_several_workers(worker):
    others = [FakeWorker(dict(worker.files)) for _ in range(2)]
    try:
        hosts = [worker.address] + [o.address for o in others]
        fs = EpochCacheFileSystem(worker_hosts=hosts, piece_size=65536, block_size=65536,
                                  direct_fallback=False, skip_instance_cache=True)
        assert fs.cat_file("/data/a.bin") == BIG  # 4 blocks of 64 KiB
        owners = {fs._client.locate("/data/a.bin", b, 1)[0] for b in range(4)}
        served = {w.address for w in [worker, *others] if w.bytes_served > 0}
        assert served == owners
        assert [w["address"] for w in fs.workers()] == sorted(hosts)
    finally:
        for o in others:
            o.close()


# ------------------------------------------------------------------------------------------------
# Auth token, paginated listings, secrets kept out of reprs and cache keys.

TOKEN = "tok-8c1e5a0f77"
TOKEN_ENV = "EPOCHCACHE_AUTH_TOKEN"


@pytest.fixture()
def guarded(worker):
    worker.required_token = TOKEN
    return worker


def test_token_from_code_is_sent_on_every_request(guarded, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    fs = EpochCacheFileSystem(worker_hosts=[guarded.address], piece_size=65536,
                              direct_fallback=False, auth_token=TOKEN, skip_instance_cache=True)
    assert fs.cat_file("/data/a.bin") == BIG
    assert fs.find("/data") == ["/data/a.bin", "/data/sub/b.txt", "/data/sub/deep/c.txt"]
    assert len(guarded.authorizations) >= 4
    assert set(guarded.authorizations) == {f"Bearer {TOKEN}"}


def test_token_from_the_environment_is_read_at_use(guarded, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    fs = EpochCacheFileSystem(worker_hosts=[guarded.address], direct_fallback=False,
                              skip_instance_cache=True)
    assert fs.cat_file("/data/sub/b.txt") == b"hello"
    assert guarded.authorizations == [f"Bearer {TOKEN}"] * len(guarded.authorizations)


def test_missing_or_wrong_token_is_a_clear_permission_error(guarded, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    other = FakeWorker({"/data/sub/b.txt": b"hello"})
    other.required_token = TOKEN
    try:
        for token in (None, "wrong-d41d8cd9"):
            for w in (guarded, other):
                w.requests.clear()
            fs = EpochCacheFileSystem(worker_hosts=[guarded.address, other.address],
                                      auth_token=token, skip_instance_cache=True)
            with pytest.raises(PermissionError) as e:
                fs.cat_file("/data/sub/b.txt")
            msg = str(e.value)
            assert "401" in msg and "auth_token=" in msg and TOKEN_ENV in msg, msg
            assert guarded.address in msg or other.address in msg, msg
            assert TOKEN not in msg and (token is None or token not in msg), msg
            # Final: one worker asked, no other worker, no direct read of the local path.
            assert len(guarded.requests) + len(other.requests) == 1
            assert fs.client_stats()["direct_metadata"] == 0
    finally:
        other.close()


def _child_cat(blob: bytes, env_token: Optional[str], queue: Any) -> None:
    if env_token is None:
        os.environ.pop(TOKEN_ENV, None)
    else:
        os.environ[TOKEN_ENV] = env_token
    try:
        queue.put(pickle.loads(blob).cat_file("/data/sub/b.txt"))
    except Exception as e:  # noqa: BLE001 - handed to the parent to assert on
        queue.put(f"{type(e).__name__}: {e}")


def _in_spawned_child(blob: bytes, env_token: Optional[str]) -> Any:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_child_cat, args=(blob, env_token, queue))
    p.start()
    try:
        return queue.get(timeout=60)
    finally:
        p.join(timeout=60)


def test_pickle_carries_an_explicit_token_but_not_the_environment(guarded, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    from_env = EpochCacheFileSystem(worker_hosts=[guarded.address], direct_fallback=False,
                                    skip_instance_cache=True)
    assert from_env.cat_file("/data/sub/b.txt") == b"hello"
    blob = pickle.dumps(from_env)
    assert TOKEN.encode() not in blob
    # The receiving process reads its own environment: without the variable it has no token.
    failed = _in_spawned_child(blob, None)
    assert isinstance(failed, str) and failed.startswith("PermissionError"), failed
    assert TOKEN_ENV in failed and TOKEN not in failed
    assert _in_spawned_child(blob, TOKEN) == b"hello"

    monkeypatch.delenv(TOKEN_ENV)
    explicit = EpochCacheFileSystem(worker_hosts=[guarded.address], direct_fallback=False,
                                    auth_token=TOKEN, skip_instance_cache=True)
    blob = pickle.dumps(explicit)
    assert TOKEN.encode() in blob  # documented: a token given in code travels with the pickle
    assert _in_spawned_child(blob, None) == b"hello"
    assert pickle.loads(blob).cat_file("/data/sub/b.txt") == b"hello"


def test_secrets_stay_out_of_reprs_and_the_instance_cache_key(worker, monkeypatch):
    import fsspec.spec

    seen: list[str] = []
    real = fsspec.spec.tokenize

    def spy(*args: Any, **kwargs: Any) -> str:
        seen.append(str(args) + str(kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(fsspec.spec, "tokenize", spy)
    secret, session = "SK-0b5e9d1c", "ST-77a01f3e"
    fs = EpochCacheFileSystem(
        target_protocol="s3", worker_hosts=[worker.address], auth_token=TOKEN,
        target_options={"key": "AK", "secret": secret, "token": session,
                        "client_kwargs": {"aws_secret_access_key": secret}})
    assert seen, "fsspec did not tokenize the arguments"
    shown = " ".join([repr(fs), str(fs), fs._fs_token_, repr(fs.storage_options),
                      repr(fs.storage_args), repr(fs.target_options), *seen])
    for s in (TOKEN, secret, session):
        assert s not in shown, s
    # Nor does any attribute of the instance hold them in clear...
    assert not any(s in repr(vars(fs)) for s in (TOKEN, secret, session))
    # ...yet they are still used: the direct-read options of the native client get them.
    from epochcache.filesystem import _fallback_options

    direct = _fallback_options(fs.target_protocol, fs.target_options)
    assert direct["s3_secret_access_key"] == secret and direct["s3_session_token"] == session


def test_one_instance_per_token(worker):
    kw = dict(worker_hosts=[worker.address], direct_fallback=False)
    a = EpochCacheFileSystem(auth_token="token-a", **kw)
    b = EpochCacheFileSystem(auth_token="token-b", **kw)
    a2 = EpochCacheFileSystem(auth_token="token-a", **kw)
    none = EpochCacheFileSystem(**kw)
    assert a is not b and a is a2 and none is not a and none is not b
    assert a._fs_token_ != b._fs_token_


def test_paginated_listing_is_followed(worker):
    worker.files.update({f"/many/f{i:02d}": b"x" * i for i in range(9)})
    worker.page_size = 2
    fs = EpochCacheFileSystem(worker_hosts=[worker.address], direct_fallback=False,
                              skip_instance_cache=True)
    assert fs.ls("/many", detail=False) == [f"/many/f{i:02d}" for i in range(9)]
    assert sum(r.startswith("/v1/list ") for r in worker.requests) == 5
    assert fs.find("/many") == [f"/many/f{i:02d}" for i in range(9)]


def test_bad_security_options_are_refused_at_construction(worker, tmp_path):
    with pytest.raises(ValueError, match="no-such-ca.pem"):
        EpochCacheFileSystem(worker_hosts=[worker.address], skip_instance_cache=True,
                             tls_ca=str(tmp_path / "no-such-ca.pem"))
    with pytest.raises(ValueError, match="auth_token"):
        EpochCacheFileSystem(worker_hosts=[worker.address], skip_instance_cache=True,
                             auth_token="")


def test_fallback_options_leave_adlfs_options_and_hf_to_their_libraries():
    from epochcache.filesystem import _fallback_options

    # No native direct store for these: the user's filesystem (adlfs, HfFileSystem) reads.
    assert _fallback_options("az", {}) == {"fallback_under_store": "az://"}
    assert _fallback_options("az", {"account_name": "acct"}) == {}
    assert _fallback_options("hf", {"token": "hf_x"}) == {}


def test_adlfs_secrets_stay_out_of_reprs(worker):
    key, conn, sas = "AK-3c1f0e", "AccountName=a;AccountKey=AK-3c1f0e", "sv=2024&sig=9e7d"
    fs = EpochCacheFileSystem(
        target_protocol="az", worker_hosts=[worker.address], skip_instance_cache=True,
        target_options={"account_name": "a", "account_key": key, "connection_string": conn,
                        "sas_token": sas})
    shown = " ".join([repr(fs), fs._fs_token_, repr(fs.storage_options),
                      repr(fs.target_options), repr(vars(fs))])
    for s in (key, sas):
        assert s not in shown, s
    assert "'a'" in repr(fs.target_options)  # the account name is no secret


def test_missing_user_filesystem_package_is_named_with_the_worker_error(monkeypatch):
    import sys

    import fsspec  # noqa: F401 - loads fsspec.registry

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "hf", raising=False)
    dead = f"127.0.0.1:{_free_port()}"
    fs = EpochCacheFileSystem(target_protocol="hf", worker_hosts=[dead], connect_timeout=1,
                              skip_instance_cache=True)
    with pytest.raises(ConnectionError) as err:
        fs.cat_file("hf://datasets/org/name/README.md")
    message = str(err.value)
    assert dead in message and "pip install huggingface_hub" in message, message
    assert fs.client_stats()["direct_reads"] == 0


def test_user_filesystem_errors_never_show_the_secrets_of_the_options():
    from epochcache.filesystem import _UserFilesystem, _hide_secrets

    sas = "sv=2024-01-01&sig=c2VjcmV0"
    direct = _UserFilesystem("az", _hide_secrets({"account_name": "acct", "sas_token": sas,
                                                  "nested": {"account_key": "K3y"}}))
    shown = direct._scrub(f"GET https://acct.blob/x?{sas} failed with key K3y")
    assert sas not in shown and "K3y" not in shown and "acct" in shown
