"""How EpochCacheFileSystem follows fsspec: URL chaining, strict paths, fsspec's own instance
cache (tokens without secrets), pickles that carry their seed workers, fork safety, and option
defaults read from the native module. Against the in-process fake worker (fake_worker.py)."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
import re
import socket
from typing import Any

import pytest

_native = pytest.importorskip("epochcache._native")

import fsspec  # noqa: E402
import fsspec.core  # noqa: E402

from epochcache import EpochCacheFileSystem  # noqa: E402
from fake_worker import FakeWorker  # noqa: E402

S3_SECRET = "SK-4e1f0a9b27"
TOKEN = "tok-1f3c5d7e9a"


@pytest.fixture()
def worker():
    w = FakeWorker({
        "/data/a.txt": b"alpha",
        "/data/sub/b.txt": b"hello",
        "s3://bucket/train/x.bin": b"0123456789",
        "s3://bucket/train/y.bin": b"abc",
    })
    yield w
    w.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _opts(worker: FakeWorker, **extra: Any) -> dict[str, Any]:
    # The fake's paths do not exist on this machine: direct reads would only hide its errors.
    return dict(worker_hosts=[worker.address], direct_fallback=False, **extra)


# ------------------------------------------------------------------------------------------------
# URL chaining.


def test_chained_s3_url_fills_target_protocol_options_and_path(worker):
    s3_options = {"key": "AK", "secret": S3_SECRET, "endpoint_url": "http://127.0.0.1:9"}
    fs, path = fsspec.core.url_to_fs("epochcache::s3://bucket/train/x.bin",
                                     epochcache=_opts(worker), s3=s3_options)
    assert isinstance(fs, EpochCacheFileSystem)
    assert fs.target_protocol == "s3" and path == "bucket/train/x.bin"
    assert fs.target_options["endpoint_url"] == "http://127.0.0.1:9"
    assert fs.target_options["key"] == "AK"
    assert fs.cat_file(path) == b"0123456789"
    assert fs.ls("bucket/train", detail=False) == ["bucket/train/x.bin", "bucket/train/y.bin"]
    # The target's secret reached the filesystem wrapped: in no repr, option or token.
    shown = repr(fs.storage_options) + repr(fs.target_options) + fs._fs_token + repr(vars(fs))
    assert S3_SECRET not in shown


def test_fsspec_open_with_per_protocol_options(worker):
    with fsspec.open("epochcache::s3://bucket/train/x.bin", epochcache=_opts(worker),
                     s3={"anon": True}) as f:
        assert f.read() == b"0123456789"
    with fsspec.open("epochcache::file:///data/sub/b.txt", "rt",
                     epochcache=_opts(worker)) as f:
        assert f.read() == "hello"
    files = fsspec.open_files("epochcache::s3://bucket/train/*.bin", epochcache=_opts(worker))
    assert [f.path for f in files] == ["bucket/train/x.bin", "bucket/train/y.bin"]
    with files[1] as f:
        assert f.read() == b"abc"


def test_a_chain_without_a_path_is_not_the_root(worker):
    # Before fsspec's chained-path passthrough was honoured, this read "/" (a directory).
    fs, path = fsspec.core.url_to_fs("epochcache::file:///data/a.txt", epochcache=_opts(worker))
    assert path == "/data/a.txt" and fs.cat_file(path) == b"alpha"


def test_pandas_reads_a_chained_url(worker):
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"id": range(50), "x": [i / 7 for i in range(50)]})
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    worker.files["/data/t.parquet"] = sink.getvalue().to_pybytes()
    got = pd.read_parquet("epochcache::file:///data/t.parquet",
                          storage_options={"epochcache": _opts(worker)})
    pd.testing.assert_frame_equal(got, df)


# ------------------------------------------------------------------------------------------------
# Strict paths.


def test_a_path_of_another_scheme_is_refused(worker):
    fs = EpochCacheFileSystem(**_opts(worker))  # a file target
    for bad in ["s3://bucket/k", "epochcache::s3://bucket/k", "gs://b/k", "http://h/x"]:
        with pytest.raises(ValueError, match=r"target_protocol='file'") as e:
            fs.info(bad)
        assert "://" in str(e.value)
    with pytest.raises(ValueError, match="s3://"):
        fs.open("s3://bucket/train/x.bin")
    with pytest.raises(ValueError, match="s3://"):
        fs.cat_file("s3://bucket/train/x.bin")
    # The scheme-less form of the same key is a local path, and simply is not there.
    with pytest.raises(FileNotFoundError):
        fs.info("bucket/train/x.bin")

    s3 = EpochCacheFileSystem(target_protocol="s3", **_opts(worker))
    for good in ["s3://bucket/train/x.bin", "s3a://bucket/train/x.bin", "bucket/train/x.bin",
                 "epochcache://bucket/train/x.bin", "epochcache::s3://bucket/train/x.bin"]:
        assert s3.cat_file(good) == b"0123456789", good
    with pytest.raises(ValueError, match=r"file:// path.*target_protocol='s3'"):
        s3.info("file:///data/a.txt")


def test_credentials_in_a_refused_url_are_not_echoed(worker):
    fs = EpochCacheFileSystem(**_opts(worker))
    with pytest.raises(ValueError) as e:
        fs.info("https://user:pa55word@host/x")
    assert "pa55word" not in str(e.value) and "https://***@host/x" in str(e.value)


def test_a_chained_target_path_of_another_scheme_is_refused(worker):
    with pytest.raises(ValueError, match="s3://"):
        EpochCacheFileSystem(fo="s3://bucket/k", skip_instance_cache=True, **_opts(worker))


def test_class_level_strip_keeps_foreign_schemes():
    # Without an instance there is no target to check against: only epochcache's prefixes go.
    assert EpochCacheFileSystem._strip_protocol("epochcache://") == ""
    assert EpochCacheFileSystem._strip_protocol("epochcache::s3://b/k/") == "s3://b/k"
    assert EpochCacheFileSystem._strip_protocol("epochcache:///data/x/") == "/data/x"
    assert EpochCacheFileSystem._strip_protocol("s3://") == "s3://"


# ------------------------------------------------------------------------------------------------
# fsspec's instance cache.


def test_fsspec_caches_instances_by_token_and_each_owns_its_client(worker):
    a = EpochCacheFileSystem(auth_token=TOKEN, **_opts(worker))
    assert EpochCacheFileSystem.cachable
    assert EpochCacheFileSystem(auth_token=TOKEN, **_opts(worker)) is a
    assert fsspec.filesystem("epochcache", auth_token=TOKEN, **_opts(worker)) is a
    b = EpochCacheFileSystem(auth_token=TOKEN + "-other", **_opts(worker))
    fresh = EpochCacheFileSystem(auth_token=TOKEN, skip_instance_cache=True, **_opts(worker))
    assert b is not a and fresh is not a and a._fs_token_ != b._fs_token_
    # No second cache behind fsspec's: distinct instances never share a native client.
    assert len({id(a._client), id(b._client), id(fresh._client)}) == 3
    for fs in (a, b, fresh):
        assert TOKEN not in fs._fs_token_ + repr(fs.storage_options) + repr(vars(fs))


def test_seed_workers_and_fo_do_not_make_another_instance(worker):
    a = EpochCacheFileSystem(**_opts(worker))
    assert EpochCacheFileSystem(fo="/data/a.txt", **_opts(worker)) is a
    assert "fo" not in a.storage_options


# ------------------------------------------------------------------------------------------------
# Pickles carry their seed workers explicitly.


def _child_reads_then_builds_its_own(blob: bytes, etcd: str, queue: Any) -> None:
    out: list[Any] = []
    try:
        fs = pickle.loads(blob)
        out.append(fs.cat_file("/data/sub/b.txt"))
        out.append([w["address"] for w in fs.workers()])
    except Exception as e:  # noqa: BLE001 - handed to the parent to assert on
        out.append(f"{type(e).__name__}: {e}")
    # Unpickling left nothing behind: a filesystem made here without seeds has none.
    try:
        EpochCacheFileSystem(etcd_hosts=etcd, etcd_timeout=0.3, direct_fallback=False,
                             skip_instance_cache=True)
        out.append("created")
    except ConnectionError as e:
        out.append(f"ConnectionError: {e}")
    queue.put(out)


def test_pickle_carries_seed_workers_and_unpickling_has_no_side_effect(worker):
    etcd = f"127.0.0.1:{_free_port()}"  # nobody listens: etcd is down
    fs = EpochCacheFileSystem(etcd_hosts=etcd, etcd_timeout=0.3, direct_fallback=False,
                              seed_workers=[("w1", worker.address)], skip_instance_cache=True)
    assert fs.cat_file("/data/sub/b.txt") == b"hello"
    func, args = fs.__reduce__()
    cls, storage_args, kwargs = args
    assert kwargs["seed_workers"] == [("w1", worker.address)]
    assert "seed_workers" not in fs.storage_options
    static = EpochCacheFileSystem(**_opts(worker))
    assert "seed_workers" not in static.__reduce__()[1][2]  # only etcd views travel

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_child_reads_then_builds_its_own,
                    args=(pickle.dumps(fs), etcd, queue))
    p.start()
    try:
        got = queue.get(timeout=120)
    finally:
        p.join(timeout=60)
    assert got[0] == b"hello", got
    assert got[1] == [worker.address], got
    assert got[2].startswith("ConnectionError") and "etcd" in got[2], got


# ------------------------------------------------------------------------------------------------
# Fork.


def _forked_child(fs: EpochCacheFileSystem, kwargs: dict[str, Any], queue: Any) -> None:
    try:
        fresh_before_use = fs._native is None
        data = fs.cat_file("/data/sub/b.txt")
        ranges = fs.cat_ranges(["/data/a.txt", "/data/sub/b.txt"], 0, 3)
        # fsspec cleared its instance cache in the child: this is a new instance.
        again = fsspec.filesystem("epochcache", **kwargs)
        queue.put((fresh_before_use, data, ranges, again is not fs, again.cat_file("/data/a.txt")))
    except Exception as e:  # noqa: BLE001 - handed to the parent to assert on
        queue.put(f"{type(e).__name__}: {e}")


def test_forked_child_makes_its_own_client_and_exits_cleanly(worker):
    # With etcd (down) and seeds, the parent's client has a background thread: a child that
    # destroyed its copy would wait forever for a thread that does not exist there.
    kwargs = dict(etcd_hosts=f"127.0.0.1:{_free_port()}", etcd_timeout=0.3,
                  direct_fallback=False, seed_workers=[("w1", worker.address)])
    fs = fsspec.filesystem("epochcache", **kwargs)
    assert fs.cat_ranges(["/data/a.txt", "/data/sub/b.txt"], 0, 2) == [b"al", b"he"]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_forked_child, args=(fs, kwargs, queue))
    p.start()
    try:
        got = queue.get(timeout=60)
    finally:
        p.join(timeout=60)
    assert got == (True, b"hello", [b"alp", b"hel"], True, b"alpha"), got
    assert p.exitcode == 0
    assert fs._native is not None and fs.cat_file("/data/a.txt") == b"alpha"  # parent unharmed


# ------------------------------------------------------------------------------------------------
# Option defaults come from the native module.


def test_defaults_come_from_the_native_client_options():
    defaults = EpochCacheFileSystem.default_options()
    assert defaults == _native.default_options()
    params = inspect.signature(EpochCacheFileSystem.__init__).parameters
    for name, value in defaults.items():
        if name == "tls":
            continue
        assert name in params, name
        assert params[name].default is None, name  # left out: the native default applies
        if name == "local_reads":  # the one switch among the native options
            assert isinstance(value, bool), name
            continue
        assert isinstance(value, (int, float, str)) and not isinstance(value, bool), name
    assert defaults["block_size"] % defaults["piece_size"] == 0
    assert defaults["breaker_max_backoff"] >= defaults["breaker_backoff"] > 0
    # The docstring names every option but hard-codes no default that could drift.
    doc = EpochCacheFileSystem.__doc__ or ""
    for name in defaults:
        assert name in doc, name
    assert not re.search(r"default[^.;\n]*\d", doc), doc


def test_an_option_left_out_takes_the_native_default(worker):
    piece = EpochCacheFileSystem.default_options()["piece_size"]
    worker.files["/data/big"] = bytes(range(256)) * (3 * piece // 256)

    def reads_for_one_cat(**options: Any) -> int:
        fs = EpochCacheFileSystem(skip_instance_cache=True, **_opts(worker, **options))
        fs.info("/data/big")
        before = len(worker.requests)
        assert fs.cat_file("/data/big") == worker.files["/data/big"]
        return sum(r.startswith("/v1/read ") for r in worker.requests[before:])

    assert reads_for_one_cat() == reads_for_one_cat(piece_size=piece) == 3
    assert reads_for_one_cat(piece_size=piece // 2) == 6  # so the equality above says something
