"""The native Arrow filesystem (epochcache.arrow) answers exactly what pyarrow's own
filesystems answer for the same files: LocalFileSystem for a local under store, S3FileSystem
against MinIO. Real worker processes; the worker and the client use 64 KiB pages and pieces, so
page edges are cheap to cross."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from epochcache import EpochCacheFileSystem
from epochcache.arrow import EpochCacheArrowFileSystem
from epochcache.local_worker import LocalWorker
from epochcache_dev.local_servers import upload_tree

PAGE = 64 * 1024
BUCKET = "arrowfs"


def _table(seed: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"id": np.arange(seed * rows, (seed + 1) * rows, dtype=np.int64),
                     "value": rng.random(rows),
                     "text": [f"row-{seed}-{i}" for i in range(rows)]})


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Files at page edges, an empty file, nested directories and a hive-partitioned dataset."""
    root = tmp_path_factory.mktemp("arrow_under") / "root"
    (root / "sub" / "a" / "b").mkdir(parents=True)
    (root / "empty.bin").write_bytes(b"")
    (root / "pages.bin").write_bytes(os.urandom(5 * PAGE + 123))
    (root / "one_page.bin").write_bytes(os.urandom(PAGE))
    (root / "sub" / "x.txt").write_bytes(b"x" * 10)
    (root / "sub" / "a" / "b" / "c.txt").write_bytes(b"deep")
    n = 0
    for year in (2023, 2024):
        for month in (1, 2):
            part = root / "hive" / f"year={year}" / f"month={month}"
            part.mkdir(parents=True)
            pq.write_table(_table(n, 3000), part / "part-0.parquet", row_group_size=1000)
            n += 1
    return root


@pytest.fixture(scope="module")
def local_worker(tree, tmp_path_factory):
    w = LocalWorker(tmp_path_factory.mktemp("arrow_cache") / "cache", under=f"file://{tree}",
                    extra_args=["--page-size", "64KiB"]).start()
    yield w
    w.kill()


@pytest.fixture()
def afs(local_worker) -> EpochCacheArrowFileSystem:
    return EpochCacheArrowFileSystem(target_protocol="file", worker_hosts=[local_worker.address],
                                     piece_size=PAGE, block_size=4 * PAGE, metadata_ttl=0)


def _infos(infos) -> list[tuple]:
    """What both filesystems must agree on: path, type, size, and a file's mtime.

    A directory's mtime is left out: the recursive listing names files only and the
    directories it adds carry no time (as S3FileSystem's do not)."""
    return sorted((i.path, i.type, i.size, i.mtime_ns if i.type == pafs.FileType.File else None)
                  for i in infos)


# ------------------------------------------------------------------------------------------
# Metadata


def test_file_info_matches_local_filesystem(afs, tree):
    local = pafs.LocalFileSystem()
    paths = [str(tree / p) for p in ("pages.bin", "empty.bin", "sub", "sub/a/b/c.txt",
                                      "missing.bin", "sub/missing")]
    assert _infos(afs.get_file_info(paths)) == _infos(local.get_file_info(paths))
    missing = afs.get_file_info(str(tree / "missing.bin"))
    assert missing.type == pafs.FileType.NotFound
    # Every spelling of the same file names it the same way.
    for spelling in (f"file://{tree}/pages.bin", f"epochcache://{tree}/pages.bin",
                     f"epochcache::file://{tree}/pages.bin", f"{tree}/pages.bin/"):
        info = afs.get_file_info(spelling)
        assert (info.path, info.size) == (str(tree / "pages.bin"), 5 * PAGE + 123), spelling
    assert afs.normalize_path(f"file://{tree}/sub/") == str(tree / "sub")


def test_path_of_another_scheme_is_refused(afs, tree):
    with pytest.raises(ValueError, match="s3:// path, but this filesystem reads file://"):
        afs.get_file_info(f"s3://bucket{tree}/pages.bin")


@pytest.mark.parametrize("recursive", [False, True])
def test_listings_match_local_filesystem(afs, tree, recursive):
    local = pafs.LocalFileSystem()
    for base in (tree, tree / "sub", tree / "hive"):
        sel = pafs.FileSelector(str(base), recursive=recursive)
        assert _infos(afs.get_file_info(sel)) == _infos(local.get_file_info(sel)), base


def test_listing_missing_or_a_file(afs, tree):
    local = pafs.LocalFileSystem()
    missing = str(tree / "nope")
    for fs in (afs, local):
        assert fs.get_file_info(pafs.FileSelector(missing, allow_not_found=True)) == []
        with pytest.raises(FileNotFoundError):
            fs.get_file_info(pafs.FileSelector(missing))
        with pytest.raises(NotADirectoryError):
            fs.get_file_info(pafs.FileSelector(str(tree / "pages.bin")))


# ------------------------------------------------------------------------------------------
# Data


def _ranges(size: int) -> list[tuple[int, int]]:
    edges = {0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE - 1, 4 * PAGE, size - 1, size, size + 7}
    lengths = (0, 1, 2, PAGE - 1, PAGE, PAGE + 2, 3 * PAGE + 5, 10 * PAGE)
    return [(o, n) for o in sorted(edges) if o >= 0 for n in lengths]


def test_ranges_at_page_edges_match_local(afs, tree):
    local = pafs.LocalFileSystem()
    for name in ("pages.bin", "one_page.bin", "empty.bin"):
        path = str(tree / name)
        with afs.open_input_file(path) as ours, local.open_input_file(path) as theirs:
            assert ours.size() == theirs.size()
            for offset, length in _ranges(theirs.size()):
                assert ours.read_at(length, offset) == theirs.read_at(length, offset), (
                    name, offset, length)
            # The stream interface: read in odd-sized steps, seek, tell.
            ours.seek(PAGE - 3)
            theirs.seek(PAGE - 3)
            while True:
                a, b = ours.read(PAGE // 3 + 1), theirs.read(PAGE // 3 + 1)
                assert a == b
                assert ours.tell() == theirs.tell()
                if not a:
                    break
        with afs.open_input_stream(path) as ours:
            assert ours.read() == (tree / name).read_bytes()


def test_concurrent_read_at_from_many_threads(afs, tree):
    data = (tree / "pages.bin").read_bytes()
    f = afs.open_input_file(str(tree / "pages.bin"))
    ranges = [((i * 7919) % len(data), 1 + (i * 104729) % (3 * PAGE)) for i in range(64)]
    out: dict[int, bytes] = {}

    def reader(k: int) -> None:
        for i in range(k, len(ranges), 8):
            offset, length = ranges[i]
            out[i] = f.read_at(length, offset)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(out) == len(ranges)
    for i, (offset, length) in enumerate(ranges):
        assert out[i] == data[offset:offset + length]


def test_missing_paths_raise_file_not_found(afs, tree):
    missing = str(tree / "missing.parquet")
    with pytest.raises(FileNotFoundError):
        afs.open_input_file(missing)
    with pytest.raises(FileNotFoundError):
        afs.open_input_stream(missing)
    with pytest.raises(FileNotFoundError):
        pq.read_table(missing, filesystem=afs)
    with pytest.raises(IsADirectoryError):
        afs.open_input_file(str(tree / "sub"))


def test_writes_are_refused(afs, tree):
    path = str(tree / "new.bin")
    for call in (lambda: afs.open_output_stream(path), lambda: afs.open_append_stream(path),
                 lambda: afs.delete_file(str(tree / "pages.bin")),
                 lambda: afs.create_dir(str(tree / "d")), lambda: afs.delete_dir(str(tree / "sub")),
                 lambda: afs.move(str(tree / "pages.bin"), path),
                 lambda: afs.copy_file(str(tree / "pages.bin"), path)):
        with pytest.raises(NotImplementedError, match="epochcache is a read-only filesystem"):
            call()
    assert not (tree / "new.bin").exists() and (tree / "pages.bin").exists()


def test_parquet_dataset_and_copy_files_match_local(afs, tree, tmp_path):
    local = pafs.LocalFileSystem()
    one = str(tree / "hive" / "year=2024" / "month=2" / "part-0.parquet")
    assert pq.read_table(one, filesystem=afs).equals(pq.read_table(one, filesystem=local))
    assert pq.read_table(one, filesystem=afs, columns=["value"]).equals(
        pq.read_table(one, filesystem=local, columns=["value"]))

    def scan(fs):
        dataset = ds.dataset(str(tree / "hive"), filesystem=fs, format="parquet",
                             partitioning="hive")
        table = dataset.to_table(filter=(pc.field("year") == 2024) & (pc.field("value") > 0.5))
        return table.sort_by("id")

    ours, theirs = scan(afs), scan(local)
    assert ours.num_rows > 0 and ours.equals(theirs)
    assert set(ours.column("year").to_pylist()) == {2024}

    # pyarrow hands a fragment's filesystem back to Python as a PyFileSystem around ours
    # (src/arrow/py_facade.h); it reads, and pickles into a filesystem that reads too.
    fragment = next(ds.dataset(str(tree / "hive"), filesystem=afs, format="parquet").get_fragments())
    assert fragment.filesystem.equals(afs)
    for fs in (fragment.filesystem, pickle.loads(pickle.dumps(fragment.filesystem))):
        assert pq.read_table(fragment.path, filesystem=fs).equals(
            pq.read_table(fragment.path, filesystem=local))

    pafs.copy_files(str(tree), str(tmp_path / "copy"), source_filesystem=afs,
                    destination_filesystem=local)
    for f in tree.rglob("*"):
        if f.is_file():
            assert (tmp_path / "copy" / f.relative_to(tree)).read_bytes() == f.read_bytes(), f


def test_to_arrow_of_the_fsspec_filesystem(local_worker, tree):
    fsspec_fs = EpochCacheFileSystem(target_protocol="file", worker_hosts=[local_worker.address],
                                     piece_size=PAGE, skip_instance_cache=True)
    afs = fsspec_fs.to_arrow()
    assert isinstance(afs, EpochCacheArrowFileSystem) and isinstance(afs, pafs.FileSystem)
    assert afs.type_name == "epochcache"
    path = str(tree / "pages.bin")
    with afs.open_input_file(path) as f:
        assert f.read() == fsspec_fs.cat_file(path)


def test_pickle_round_trip_into_a_fresh_process(afs, tree, tmp_path):
    blob = tmp_path / "fs.pickle"
    blob.write_bytes(pickle.dumps(afs))
    assert pickle.loads(blob.read_bytes()).equals(afs)
    one = str(tree / "hive" / "year=2023" / "month=1" / "part-0.parquet")
    code = (
        "import hashlib, pickle, sys\n"
        "import pyarrow.parquet as pq\n"
        "fs = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(type(fs).__name__, fs.type_name)\n"
        "print(hashlib.sha256(fs.open_input_file(sys.argv[2]).read()).hexdigest())\n"
        "print(pq.read_table(sys.argv[3], filesystem=fs).num_rows)\n")
    out = subprocess.run([sys.executable, "-c", code, str(blob), str(tree / "pages.bin"), one],
                         capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[:2] == ["EpochCacheArrowFileSystem", "epochcache"]
    assert lines[2] == hashlib.sha256((tree / "pages.bin").read_bytes()).hexdigest()
    assert int(lines[3]) == 3000


def test_unpickled_again_in_one_process_is_the_filesystem_already_built(local_worker, tree,
                                                                         monkeypatch):
    """Ray pickles the filesystem into every read task: the tasks a process runs share one
    client, so a file read by one task needs no new status request in the next."""
    options = dict(target_protocol="file", worker_hosts=[local_worker.address], piece_size=PAGE)
    blob = pickle.dumps(EpochCacheArrowFileSystem(**options))
    first = pickle.loads(blob)
    assert pickle.loads(blob) is first
    path = str(tree / "pages.bin")
    want = (tree / "pages.bin").read_bytes()

    def requests_for_one_read(fs) -> int:
        before = local_worker.stats()["requests"]
        with fs.open_input_file(path) as f:
            assert f.read() == want
        return local_worker.stats()["requests"] - before

    requests_for_one_read(first)
    reused = requests_for_one_read(pickle.loads(blob))
    fresh = requests_for_one_read(EpochCacheArrowFileSystem(**options))
    assert reused < fresh, (reused, fresh)  # the fresh client had to ask for the status

    # Other options, another token, or another token in the environment: another filesystem.
    assert pickle.loads(pickle.dumps(EpochCacheArrowFileSystem(
        **options, request_timeout=7))) is not first
    with_token = pickle.loads(pickle.dumps(EpochCacheArrowFileSystem(**options, auth_token="a")))
    assert with_token is not first
    assert pickle.loads(pickle.dumps(EpochCacheArrowFileSystem(
        **options, auth_token="b"))) is not with_token
    monkeypatch.setenv("EPOCHCACHE_AUTH_TOKEN", "c")
    assert pickle.loads(blob) is not first
    monkeypatch.delenv("EPOCHCACHE_AUTH_TOKEN")
    assert pickle.loads(blob) is first

    # A forked child builds its own (the parent's client is not its to use).
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os._exit(0 if pickle.loads(blob) is not first else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_reads_release_the_gil(local_worker, tmp_path):
    """A Python thread keeps counting while one long read runs in the main thread."""
    big = Path(local_worker.under.removeprefix("file://")) / "gil_big.bin"
    big.write_bytes(os.urandom(48 << 20))
    afs = EpochCacheArrowFileSystem(target_protocol="file", worker_hosts=[local_worker.address],
                                    piece_size=PAGE, block_size=4 * PAGE, max_parallel_requests=2)
    ticks: list[float] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.0005)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        f = afs.open_input_file(str(big))
        start = time.monotonic()
        data = f.read_at(f.size(), 0)  # one call: cold, 768 pieces of 64 KiB
        end = time.monotonic()
    finally:
        stop.set()
        counter.join(timeout=10)
    assert len(data) == 48 << 20
    margin = (end - start) / 10
    inside = [t for t in ticks if start + margin < t < end - margin]
    assert inside, f"no tick of the counting thread during a {end - start:.3f}s read"
    big.unlink()


# ------------------------------------------------------------------------------------------
# Ray


def test_ray_read_parquet_with_hive_partitions_and_a_filter(ray_session, afs, tree, local_worker):
    ray = ray_session
    path = str(tree / "hive")

    def read(fs):
        frame = ray.data.read_parquet(path, filesystem=fs).filter(expr="month == '2'").to_pandas()
        return frame.sort_values("id").reset_index(drop=True)

    served = local_worker.stats()["bytes_served"]
    ours, theirs = read(afs), read(pafs.LocalFileSystem())
    assert local_worker.stats()["bytes_served"] > served  # Ray's tasks read through the worker
    assert afs.client_stats()["direct_reads"] == 0
    # Ray's hive partition values are strings.
    assert len(theirs) == 2 * 3000 and set(map(str, theirs["month"])) == {"2"}
    pd.testing.assert_frame_equal(ours, theirs)


# ------------------------------------------------------------------------------------------
# S3 (MinIO)


@pytest.fixture(scope="module")
def s3_tree(minio, tree):
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    upload_tree(client, BUCKET, tree, "data")
    return f"{BUCKET}/data"


@pytest.fixture(scope="module")
def s3_worker(minio, s3_tree, tmp_path_factory):
    w = LocalWorker(tmp_path_factory.mktemp("arrow_s3_cache") / "cache", under=f"s3://{BUCKET}",
                    extra_args=["--s3-endpoint", minio.endpoint, "--page-size", "64KiB"],
                    env=minio.worker_env()).start()
    yield w
    w.kill()


@pytest.fixture()
def s3_pair(minio, s3_worker):
    ours = EpochCacheArrowFileSystem(target_protocol="s3", target_options=minio.s3fs_options(),
                                     worker_hosts=[s3_worker.address], piece_size=PAGE,
                                     block_size=4 * PAGE)
    theirs = pafs.S3FileSystem(endpoint_override=minio.endpoint, scheme="http",
                               access_key=minio.access_key, secret_key=minio.secret_key,
                               region="us-east-1")
    return ours, theirs


def test_s3_matches_s3filesystem(s3_pair, s3_tree):
    ours, theirs = s3_pair

    def infos(fs, arg):
        # S3FileSystem reports no mtime for directories, and ours none in recursive listings.
        return sorted((i.path, i.type, i.size) for i in fs.get_file_info(arg))

    paths = [f"{s3_tree}/{p}" for p in ("pages.bin", "empty.bin", "sub", "missing.bin")]
    assert infos(ours, paths) == infos(theirs, paths)
    files = [f"{s3_tree}/pages.bin", f"{s3_tree}/empty.bin"]
    assert ([i.mtime for i in ours.get_file_info(files)]
            == [i.mtime for i in theirs.get_file_info(files)])
    for recursive in (False, True):
        for base in (s3_tree, f"{s3_tree}/sub", f"{s3_tree}/hive"):
            sel = pafs.FileSelector(base, recursive=recursive)
            assert infos(ours, sel) == infos(theirs, sel), (base, recursive)
    for name in ("pages.bin", "empty.bin"):
        path = f"{s3_tree}/{name}"
        with ours.open_input_file(path) as a, theirs.open_input_file(path) as b:
            assert a.size() == b.size()
            for offset, length in _ranges(b.size()):
                if offset <= b.size():
                    assert a.read_at(length, offset) == b.read_at(length, offset), (
                        name, offset, length)
    with pytest.raises(FileNotFoundError):
        ours.open_input_file(f"{s3_tree}/missing.bin")
    one = f"{s3_tree}/hive/year=2023/month=2/part-0.parquet"
    assert pq.read_table(f"s3://{one}", filesystem=ours).equals(pq.read_table(one, filesystem=theirs))


def test_a_different_pyarrow_version_is_refused_at_import():
    code = ("import pyarrow\n"
            "pyarrow.__version__ = '1.2.3'\n"
            "try:\n"
            "    import epochcache.arrow\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert f"built against pyarrow {pa.__version__}, but pyarrow 1.2.3 is installed" in out.stdout
    # With the right version, the module imports on its own in a fresh process.
    out = subprocess.run([sys.executable, "-c", "import epochcache.arrow"], capture_output=True,
                         text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr


def test_epochcache_uri_through_arrows_registry(local_worker, tree, tmp_path):
    uri = f"epochcache://{tree}/pages.bin?worker_hosts={local_worker.address}&piece_size={PAGE}"
    fs, path = EpochCacheArrowFileSystem.from_uri(uri)
    assert path == str(tree / "pages.bin")
    with fs.open_input_file(path) as f:
        assert f.read() == (tree / "pages.bin").read_bytes()
    again = pickle.loads(pickle.dumps(fs))
    assert again.get_file_info(path).size == 5 * PAGE + 123
    with pytest.raises(ValueError, match="cannot be given in a URI"):
        EpochCacheArrowFileSystem.from_uri(f"{uri}&auth_token=abc")
    with pytest.raises(ValueError, match="unknown client option bogus"):
        EpochCacheArrowFileSystem.from_uri(f"{uri}&bogus=1")


@pytest.mark.parametrize("protocol,spellings", [
    ("file", ["/data/x", "file:///data/x", "epochcache:///data/x", "epochcache::file:///data/x",
              "data/x", "/data/dir/", "local:///data/x", "/", "file:///"]),
    ("s3", ["s3://bucket/k", "bucket/k", "epochcache://bucket/k", "epochcache::s3://bucket/k",
            "s3a://bucket/k", "s3://bucket/dir/", "bucket"]),
])
def test_paths_follow_the_fsspec_filesystems_rule(protocol, spellings):
    # No request is made: both clients are only built (the address is never dialled).
    fsspec_fs = EpochCacheFileSystem(target_protocol=protocol, worker_hosts=["127.0.0.1:9"],
                                     skip_instance_cache=True)
    afs = EpochCacheArrowFileSystem(target_protocol=protocol, worker_hosts=["127.0.0.1:9"])
    for path in spellings:
        assert afs.normalize_path(path) == fsspec_fs._name(path), path
    other = "http://host/x" if protocol == "file" else "file:///x"
    with pytest.raises(ValueError):
        fsspec_fs._name(other)
    with pytest.raises(ValueError):
        afs.normalize_path(other)
