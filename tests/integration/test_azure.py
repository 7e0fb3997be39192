"""epochcache in front of a real Azure Blob service (Azurite on 127.0.0.1, started by the test
harness) and a real worker reading it with its az:// store: reads and ranges equal the
uploaded bytes, Ray Data results equal direct reads, warm epochs fetch nothing from Azurite,
listings page, a blob changed behind the worker's back is detected, and a wrong key fails
clearly without the key anywhere."""

from __future__ import annotations

import base64
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from support.staleness import read_until_new

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

CONTAINER = "train"
MANY = 1100


def _upload_tree(azurite, local_root: Path, prefix: str) -> int:
    files = sorted(p for p in local_root.rglob("*") if p.is_file())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: azurite.put_blob(
            CONTAINER, f"{prefix}/{p.relative_to(local_root).as_posix()}", p.read_bytes()), files))
    return len(files)


@pytest.fixture(scope="module")
def az_data(azurite, data_root):
    azurite.create_container(CONTAINER)
    _upload_tree(azurite, data_root / "parquet", "parquet")
    _upload_tree(azurite, data_root / "images", "images")
    azurite.put_blob(CONTAINER, "misc/big.bin", (data_root / "misc" / "big.bin").read_bytes())
    for key in ["odd/a b+c%d.txt", "odd/d\u00e9j\u00e0 vu.txt", "odd/deep/x/y/z/w.txt",
                "odd/sub-1.txt", "odd/sub/inner.txt"]:
        azurite.put_blob(CONTAINER, key, key.encode())
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: azurite.put_blob(CONTAINER, f"many/obj-{i:05d}", b"x"),
                      range(MANY)))
    return azurite


def _az_worker(azurite, tmp_path, under=f"az://{CONTAINER}", env=None, ttl="1s") -> LocalWorker:
    worker_env = azurite.worker_env()
    worker_env.update(env or {})
    return LocalWorker(tmp_path / "cache", under=under, extra_args=["--metadata-ttl", ttl],
                       env=worker_env)


@pytest.fixture()
def az_worker(az_data, tmp_path):
    w = _az_worker(az_data, tmp_path).start()
    yield w
    w.kill()


def _fs(worker, **kwargs) -> EpochCacheFileSystem:
    return EpochCacheFileSystem(target_protocol="az", worker_hosts=[worker.address],
                                metadata_ttl=1.0, skip_instance_cache=True, **kwargs)


def _sorted(df: pd.DataFrame, by: str) -> pd.DataFrame:
    return df.sort_values(by).reset_index(drop=True)


def test_reads_ranges_and_stat_equal_the_uploaded_bytes(az_worker, data_root):
    fs = _fs(az_worker)
    big = (data_root / "misc" / "big.bin").read_bytes()
    for path in [f"az://{CONTAINER}/misc/big.bin", f"{CONTAINER}/misc/big.bin",
                 f"abfs://{CONTAINER}/misc/big.bin"]:
        assert fs.cat_file(path) == big, path
    assert fs.cat_file(f"az://{CONTAINER}/misc/big.bin", start=1_000_000, end=3_000_123) == \
        big[1_000_000:3_000_123]
    assert fs.cat_file(f"az://{CONTAINER}/misc/big.bin", start=len(big) - 10) == big[-10:]
    info = fs.info(f"az://{CONTAINER}/misc/big.bin")
    assert info["size"] == len(big) and info["type"] == "file"
    assert fs.info(f"az://{CONTAINER}/odd/deep")["type"] == "directory"
    for key in ["odd/a b+c%d.txt", "odd/d\u00e9j\u00e0 vu.txt", "odd/deep/x/y/z/w.txt"]:
        assert fs.cat_file(f"az://{CONTAINER}/{key}") == key.encode()
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        fs.cat_file(f"az://{CONTAINER}/parquet/nope.parquet")


def test_ray_parquet_and_images_match_direct_reads_and_warm_epochs_fetch_nothing(
    ray_session, az_worker, data_root
):
    import pyarrow.fs

    ray = ray_session
    fs = _fs(az_worker)
    # The blobs are the local dataset's bytes, so the local files are the direct read.
    local = pyarrow.fs.LocalFileSystem()
    direct = _sorted(ray.data.read_parquet(str(data_root / "parquet"), filesystem=local)
                     .to_pandas(), "id")
    url = f"az://{CONTAINER}/parquet"
    first = _sorted(ray.data.read_parquet(url, filesystem=fs).to_pandas(), "id")
    pd.testing.assert_frame_equal(direct, first)

    direct_images = {r["path"].rsplit("/", 1)[-1]: r["image"] for r in ray.data.read_images(
        str(data_root / "images"), filesystem=local, include_paths=True, mode="RGB").take_all()}
    images_url = f"az://{CONTAINER}/images"
    cached = ray.data.read_images(images_url, filesystem=fs, include_paths=True,
                                  mode="RGB").take_all()
    assert len(cached) == len(direct_images) == 24
    for row in cached:
        assert (row["image"] == direct_images[row["path"].rsplit("/", 1)[-1]]).all()

    fetched = az_worker.stats()["under_store_bytes"]
    assert fetched > 0
    again = _sorted(ray.data.read_parquet(url, filesystem=fs).to_pandas(), "id")
    pd.testing.assert_frame_equal(direct, again)
    ray.data.read_images(images_url, filesystem=fs, mode="RGB").take_all()
    assert az_worker.stats()["under_store_bytes"] == fetched  # epoch 2: 0 bytes from Azurite


def test_epochcache_equals_adlfs_directly(az_worker, az_data):
    adlfs = pytest.importorskip("adlfs", reason="adlfs is not installed (requirements-dev.txt)")
    direct = adlfs.AzureBlobFileSystem(connection_string=az_data.connection_string)
    fs = _fs(az_worker)
    assert sorted(p.split("/", 1)[1] for p in fs.find(f"{CONTAINER}/parquet")) == \
        sorted(p.split("/", 1)[1] for p in direct.find(f"{CONTAINER}/parquet"))
    for path in direct.find(f"{CONTAINER}/images"):
        assert fs.cat_file(path) == direct.cat_file(path), path


def test_listings_page_and_come_back_whole(az_worker):
    fs = _fs(az_worker)
    names = fs.ls(f"az://{CONTAINER}/many", detail=False)
    assert len(names) == MANY and len(set(names)) == MANY
    assert names == sorted(names)
    found = fs.find(f"{CONTAINER}/many")
    assert len(found) == MANY
    assert len(fs.find(f"{CONTAINER}/odd")) == 5
    assert len(fs.find(f"{CONTAINER}/images")) == 24
    # A directory listing in path order: "sub" sorts before "sub-1" ('/' is after '-' for
    # Azure, but a directory's path has no '/').
    odd = [n.rsplit("/", 1)[-1] for n in fs.ls(f"{CONTAINER}/odd", detail=False)]
    assert odd == sorted(odd)
    assert "sub" in odd and "sub-1.txt" in odd
    assert fs.isdir(f"{CONTAINER}/odd/sub")


def test_overwritten_blob_is_served_fresh_after_the_ttl(az_worker, az_data):
    fs = _fs(az_worker)
    path = f"az://{CONTAINER}/mutable/value.bin"
    az_data.put_blob(CONTAINER, "mutable/value.bin", b"version one")
    assert fs.cat_file(path) == b"version one"
    az_data.put_blob(CONTAINER, "mutable/value.bin", b"version two, longer")
    time.sleep(2.5)  # past the metadata TTL of worker and client (1 s each)
    read_until_new(lambda: fs.cat_file(path), b"version one", b"version two, longer")


def test_blob_changed_between_stat_and_read_is_detected(az_data, tmp_path):
    # The worker keeps statuses for an hour: only the ETag check of the read (If-Match, 412)
    # can notice the blob was replaced.
    w = _az_worker(az_data, tmp_path, ttl="1h").start()
    try:
        path = f"az://{CONTAINER}/mutable/changing.bin"
        az_data.put_blob(CONTAINER, "mutable/changing.bin", b"A" * 4096)
        assert _fs(w).info(path)["size"] == 4096  # the worker now holds version A's ETag
        az_data.put_blob(CONTAINER, "mutable/changing.bin", b"B" * 4096)
        before = w.stats()["version_changes"]
        got = _fs(w).cat_file(path)
        assert got == b"B" * 4096  # never A's pages, never a mix
        assert w.stats()["version_changes"] > before
    finally:
        w.kill()


def test_wrong_key_is_a_permission_error_without_the_key(az_data, tmp_path):
    wrong = base64.b64encode(b"a wrong key, but valid base64 " * 2).decode()
    conn = az_data.connection_string.replace(az_data.key, wrong)
    assert wrong in conn
    w = _az_worker(az_data, tmp_path, env={"AZURE_STORAGE_CONNECTION_STRING": conn}).start()
    try:
        fs = _fs(w, direct_fallback=False)
        with pytest.raises(PermissionError) as info:
            fs.cat_file(f"az://{CONTAINER}/odd/deep/x/y/z/w.txt")
        message = str(info.value)
        assert f"az://{CONTAINER}/odd/deep/x/y/z/w.txt" in message
        assert "devstoreaccount1" in message
        assert wrong not in message and az_data.key not in message
        with pytest.raises(PermissionError):
            fs.ls(f"az://{CONTAINER}/many")
    finally:
        w.kill()
    log = w.log_path.read_text(errors="replace")
    assert wrong not in log and az_data.key not in log


def test_paths_outside_the_root_are_refused(az_data, tmp_path, data_root):
    w = _az_worker(az_data, tmp_path, under=f"az://{CONTAINER}/images").start()
    try:
        fs = _fs(w, direct_fallback=False)
        first = sorted(p.name for p in (data_root / "images").iterdir())[0]
        assert fs.cat_file(f"az://{CONTAINER}/images/{first}") == \
            (data_root / "images" / first).read_bytes()
        fetched = w.stats()["under_store_bytes"]
        for bad in [f"az://{CONTAINER}/odd/sub-1.txt",
                    f"az://{CONTAINER}/images/../odd/sub-1.txt",
                    f"az://{CONTAINER}/images/./../odd/sub-1.txt",
                    f"az://{CONTAINER}/imagesX/x.png",
                    "az://other/images/x.png"]:
            with pytest.raises((PermissionError, ValueError)) as info:
                fs.cat_file(bad)
            assert "odd/sub-1.txt" != str(info.value), bad
        assert w.stats()["under_store_bytes"] == fetched  # nothing outside was read
    finally:
        w.kill()


def test_direct_reads_use_the_environment_when_no_worker_answers(az_data, monkeypatch,
                                                                  data_root):
    from epochcache_dev.local_servers import free_port

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", az_data.connection_string)
    fs = EpochCacheFileSystem(target_protocol="az", worker_hosts=[f"127.0.0.1:{free_port()}"],
                              connect_timeout=1, skip_instance_cache=True)
    assert fs.cat_file(f"az://{CONTAINER}/misc/big.bin", start=10, end=5000) == \
        (data_root / "misc" / "big.bin").read_bytes()[10:5000]
    assert fs.client_stats()["direct_reads"] >= 1


def test_direct_reads_with_adlfs_options_go_through_adlfs(az_worker, az_data, data_root,
                                                          monkeypatch, caplog):
    """Every worker dead: reads, info, ls/find and file objects are served by adlfs made from
    target_options, exactly as the workers serve them; one warning; none with
    direct_fallback=False."""
    pytest.importorskip("adlfs", reason="adlfs is not installed (requirements-dev.txt)")
    from epochcache_dev.local_servers import free_port

    # The environment names a wrong key: only the options given can read.
    wrong = base64.b64encode(b"a wrong key, but valid base64 " * 2).decode()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       az_data.connection_string.replace(az_data.key, wrong))
    caplog.set_level(logging.WARNING, logger="epochcache")
    dead = f"127.0.0.1:{free_port()}"
    options = {"connection_string": az_data.connection_string}
    fs = EpochCacheFileSystem(target_protocol="az", worker_hosts=[dead], target_options=options,
                              connect_timeout=1, skip_instance_cache=True)
    cached = _fs(az_worker, direct_fallback=False)
    big = (data_root / "misc" / "big.bin").read_bytes()
    path = f"az://{CONTAINER}/misc/big.bin"
    assert fs.cat_file(path) == big
    assert fs.cat_file(path, start=1_000_000, end=3_000_123) == big[1_000_000:3_000_123]
    assert fs.cat_file(path, start=-10) == big[-10:]
    for key in ["odd/a b+c%d.txt", "odd/d\u00e9j\u00e0 vu.txt"]:
        assert fs.cat_file(f"abfs://{CONTAINER}/{key}") == key.encode()
    with fs.open(path) as f:
        f.seek(4_000_000)
        assert f.read(70_000) == big[4_000_000:4_070_000]
        buf = bytearray(1000)
        assert f.readinto(buf) == 1000 and bytes(buf) == big[4_070_000:4_071_000]

    def shape(entries):
        return sorted((e["name"], e["type"], e["size"]) for e in entries)

    for p in [path, f"{CONTAINER}/odd/deep"]:
        assert shape([fs.info(p)]) == shape([cached.info(p)]), p
    for p in [f"{CONTAINER}/odd", f"{CONTAINER}/images"]:
        assert shape(fs.ls(p, detail=True)) == shape(cached.ls(p, detail=True)), p
        assert fs.find(p) == cached.find(p), p
    with pytest.raises(FileNotFoundError):
        fs.info(f"az://{CONTAINER}/parquet/nope.parquet")

    stats = fs.client_stats()
    assert stats["direct_reads"] >= 5 and stats["direct_metadata"] >= 5
    assert stats["direct_read_bytes"] >= len(big)
    warnings = [r.getMessage() for r in caplog.records if r.name == "epochcache"]
    assert len(warnings) == 1, warnings
    assert "through adlfs" in warnings[0] and dead in warnings[0]
    assert az_data.key not in warnings[0] and az_data.key not in repr(fs.storage_options)

    off = EpochCacheFileSystem(target_protocol="az", worker_hosts=[dead], target_options=options,
                               connect_timeout=1, direct_fallback=False,
                               skip_instance_cache=True)
    with pytest.raises(ConnectionError, match=dead):
        off.cat_file(path)
    with pytest.raises(ConnectionError):
        off.info(path)


def test_unsupported_protocol_is_refused_at_construction():
    with pytest.raises(ValueError) as info:
        EpochCacheFileSystem(target_protocol="bogus", worker_hosts=["127.0.0.1:1"])
    message = str(info.value)
    assert "bogus" in message
    for name in ["file", "s3", "http", "https", "az", "abfs", "gs"]:
        assert name in message
    for ok in ["az", "abfs", "abfss", "gs", "gcs"]:
        fs = EpochCacheFileSystem(target_protocol=ok, worker_hosts=["127.0.0.1:1"],
                                  skip_instance_cache=True)
        assert fs.target_protocol in ("az", "gs")
