"""Ray Data through epochcache returns exactly what it reads directly, and epochs after the
first are served from the cache (real worker process, local-directory under store)."""

from __future__ import annotations

import fsspec
import pandas as pd

from epochcache.local_worker import LocalWorker


def _frame(ds) -> pd.DataFrame:
    return ds.to_pandas()


def _parquet(ray, data_root, fs=None):
    return ray.data.read_parquet(str(data_root / "parquet"), filesystem=fs)


def _images(ray, data_root, fs=None):
    return ray.data.read_images(str(data_root / "images"), filesystem=fs, mode="RGB",
                                include_paths=True)


def test_read_parquet_matches_direct_read(ray_session, data_root, fs):
    direct = _frame(_parquet(ray_session, data_root)).sort_values("id").reset_index(drop=True)
    cached = _frame(_parquet(ray_session, data_root, fs)).sort_values("id").reset_index(drop=True)
    assert len(direct) == 4 * 5_000
    pd.testing.assert_frame_equal(direct, cached)


def test_read_images_matches_direct_read(ray_session, data_root, fs):
    direct = _images(ray_session, data_root).take_all()
    cached = _images(ray_session, data_root, fs).take_all()
    assert len(direct) == 24
    by_path = {r["path"].rsplit("/", 1)[-1]: r["image"] for r in direct}
    assert len(cached) == len(direct)
    for row in cached:
        name = row["path"].rsplit("/", 1)[-1]
        assert (row["image"] == by_path[name]).all(), name


def test_second_pass_fetches_nothing_from_under_store(ray_session, data_root, fs, worker):
    _frame(_parquet(ray_session, data_root, fs))
    _images(ray_session, data_root, fs).take_all()
    first = worker.stats()["under_store_bytes"]
    assert first > 0
    _frame(_parquet(ray_session, data_root, fs))
    _images(ray_session, data_root, fs).take_all()
    assert worker.stats()["under_store_bytes"] == first


def test_restarted_worker_serves_from_its_cache(ray_session, data_root, tmp_path):
    from epochcache import EpochCacheFileSystem

    cache = tmp_path / "cache"
    first = LocalWorker(cache, under=f"file://{data_root}").start()
    fs1 = EpochCacheFileSystem(worker_hosts=[first.address], skip_instance_cache=True)
    expected = _frame(_parquet(ray_session, data_root, fs1)).sort_values("id").reset_index(drop=True)
    assert first.stats()["under_store_bytes"] > 0
    first.stop()

    second = LocalWorker(cache, under=f"file://{data_root}").start()
    try:
        fs2 = EpochCacheFileSystem(worker_hosts=[second.address], skip_instance_cache=True)
        again = _frame(_parquet(ray_session, data_root, fs2)).sort_values("id").reset_index(drop=True)
        pd.testing.assert_frame_equal(expected, again)
        assert second.stats()["under_store_bytes"] == 0
    finally:
        second.kill()


def test_protocol_is_registered_through_entry_point(worker, data_root):
    fs = fsspec.filesystem("epochcache", target_protocol="file", worker_hosts=[worker.address])
    assert fs.cat_file(str(data_root / "misc" / "hello.txt")) == b"hello, epochcache\n"
