"""fsspec URL chaining against real workers: pandas over ``epochcache::file://``, ``fsspec.open``
and dask over ``epochcache::s3://`` (MinIO on 127.0.0.1), each protocol with its own storage
options, as with fsspec's own chained filesystems."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker
from epochcache_dev.local_servers import free_port, upload_tree

BUCKET = "chained"


@pytest.fixture(scope="module")
def s3_parquet(minio, data_root):
    """The local Parquet files uploaded to MinIO; returns the boto3 client."""
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    assert upload_tree(client, BUCKET, data_root / "parquet", "parquet") == 4
    return client


@pytest.fixture()
def s3_worker(minio, s3_parquet, tmp_path):
    w = LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}", env=minio.worker_env(),
                    extra_args=["--s3-endpoint", minio.endpoint]).start()
    yield w
    w.kill()


def _direct(data_root) -> pd.DataFrame:
    parts = sorted((data_root / "parquet").glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts]).sort_values("id").reset_index(drop=True)


def _through(worker: LocalWorker, **extra) -> dict:
    # No direct reads: what is read must come through the worker.
    return {"worker_hosts": [worker.address], "direct_fallback": False, **extra}


def test_pandas_reads_an_epochcache_file_url(worker, data_root):
    part = data_root / "parquet" / "part-0000.parquet"
    url = f"epochcache::file://{part}"
    got = pd.read_parquet(url, storage_options={"epochcache": _through(worker)})
    pd.testing.assert_frame_equal(got, pd.read_parquet(part))
    served = worker.stats()["bytes_served"]
    assert served > 0

    whole = pd.read_parquet(f"epochcache::file://{data_root}/parquet",
                            storage_options={"epochcache": _through(worker)})
    pd.testing.assert_frame_equal(whole.sort_values("id").reset_index(drop=True),
                                  _direct(data_root))
    assert worker.stats()["bytes_served"] > served


def test_a_file_url_of_another_scheme_is_an_error_not_a_local_read(worker, data_root):
    fs = EpochCacheFileSystem(**_through(worker), skip_instance_cache=True)
    with pytest.raises(ValueError, match="target_protocol='file'"):
        fs.cat_file(f"s3:/{data_root}/misc/hello.txt")
    assert fs.cat_file(f"file://{data_root}/misc/hello.txt") == b"hello, epochcache\n"


def test_fsspec_open_s3_url_with_options_per_protocol(minio, s3_parquet, s3_worker):
    key = "parquet/part-0001.parquet"
    want = s3_parquet.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with fsspec.open(f"epochcache::s3://{BUCKET}/{key}", epochcache=_through(s3_worker),
                     s3=minio.s3fs_options()) as f:
        assert f.read() == want
    assert s3_worker.stats()["bytes_served"] >= len(want)


def test_the_s3_options_of_the_chain_are_the_direct_reads_credentials(minio, s3_parquet):
    # No worker answers, so the client reads MinIO itself, with what `s3={...}` gave it.
    key = "parquet/part-0002.parquet"
    want = s3_parquet.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    dead = {"worker_hosts": [f"127.0.0.1:{free_port()}"], "connect_timeout": 1.0,
            "skip_instance_cache": True}
    url = f"epochcache::s3://{BUCKET}/{key}"
    with fsspec.open(url, epochcache=dead, s3=minio.s3fs_options()) as f:
        assert f.read() == want
        assert f.fs.target_protocol == "s3" and f.fs.client_stats()["direct_reads"] > 0
        assert minio.secret_key not in repr(f.fs.storage_options) + f.fs._fs_token
    wrong = dict(minio.s3fs_options(), secret="not-the-secret")
    with pytest.raises(PermissionError), fsspec.open(url, epochcache=dead, s3=wrong) as f:
        f.read()


def test_dask_reads_an_epochcache_s3_url(minio, s3_parquet, s3_worker, data_root):
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.read_parquet(f"epochcache::s3://{BUCKET}/parquet",
                          storage_options={"epochcache": _through(s3_worker),
                                           "s3": minio.s3fs_options()})
    got = ddf.compute(scheduler="threads").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _direct(data_root), check_index_type=False)
    assert s3_worker.stats()["bytes_served"] > 0
