"""The fsspec surface of EpochCacheFileSystem against a real worker: every method returns what
the local filesystem returns for the same paths."""

from __future__ import annotations

import os
import pickle

import fsspec
import pyarrow.parquet as pq


def test_info_ls_find_match_local(fs, data_root):
    local = fsspec.filesystem("file")
    d = str(data_root / "parquet")
    assert sorted(fs.ls(d, detail=False)) == sorted(local.ls(d, detail=False))
    info = fs.info(d + "/part-0000.parquet")
    assert info["type"] == "file"
    assert info["size"] == os.path.getsize(d + "/part-0000.parquet")
    assert info["name"] == d + "/part-0000.parquet"
    assert fs.info(d)["type"] == "directory"
    assert sorted(fs.find(str(data_root))) == sorted(local.find(str(data_root)))
    assert fs.isdir(d) and not fs.isfile(d)
    assert fs.isfile(d + "/part-0000.parquet") and not fs.isdir(d + "/part-0000.parquet")
    assert fs.exists(d) and not fs.exists(d + "/missing")


def test_paths_with_and_without_scheme_agree(fs, data_root):
    p = str(data_root / "misc" / "hello.txt")
    expected = b"hello, epochcache\n"
    assert fs.cat_file(p) == expected
    assert fs.cat_file("file://" + p) == expected
    assert fs.cat_file("epochcache://" + p) == expected


def test_cat_ranges_and_seekable_file(fs, data_root):
    path = data_root / "misc" / "big.bin"
    data = path.read_bytes()
    starts = [0, 1 << 20, len(data) - 100, 12345]
    ends = [10, (1 << 20) + 3 * (1 << 20), len(data), 12345 + 70000]
    got = fs.cat_ranges([str(path)] * len(starts), starts, ends)
    assert got == [data[s:e] for s, e in zip(starts, ends)]
    with fs.open(str(path), "rb") as f:
        assert f.seekable() and f.readable()
        f.seek(4096)
        assert f.tell() == 4096
        buf = bytearray(100_000)
        assert f.readinto(buf) == len(buf)
        assert bytes(buf) == data[4096 : 4096 + len(buf)]
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
        f.seek(0)
        assert f.read() == data


def test_reads_are_exact_ranges_without_read_ahead(fs, data_root, worker):
    path = str(data_root / "misc" / "big.bin")
    before = worker.stats()["bytes_served"]
    with fs.open(path) as f:
        f.seek(3 << 20)
        f.read(1000)
    assert worker.stats()["bytes_served"] - before == 1000


def test_pickles_cheaply_and_works_after_unpickling(fs, data_root):
    blob = pickle.dumps(fs)
    assert len(blob) < 2000
    clone = pickle.loads(blob)
    assert clone.cat_file(str(data_root / "misc" / "hello.txt")) == b"hello, epochcache\n"


def test_pyarrow_reads_parquet_through_epochcache(fs, data_root):
    path = str(data_root / "parquet" / "part-0001.parquet")
    assert pq.read_table(path, filesystem=fs).equals(pq.read_table(path))
    subset = pq.read_table(path, filesystem=fs, columns=["id", "label"])
    assert subset.equals(pq.read_table(path, columns=["id", "label"]))
