"""epochcache in front of a real S3-compatible server (MinIO on 127.0.0.1): Ray Data results
match direct S3 reads, later epochs fetch nothing from S3, listings page, objects overwritten on
S3 are never served stale, and errors are clear and secret-free."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from support.staleness import read_until_new

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker
from epochcache_dev.local_servers import free_port, upload_tree

BUCKET = "train"


@pytest.fixture(scope="module")
def s3_data(minio, data_root):
    """The local dataset uploaded to MinIO with boto3, plus awkward keys and a big listing."""
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    upload_tree(client, BUCKET, data_root / "parquet", "parquet")
    upload_tree(client, BUCKET, data_root / "images", "images")
    for key in ["odd/a b+c%d.txt", "odd/d\u00e9j\u00e0 vu.txt", "odd/deep/x/y/z/w.txt"]:
        client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=BUCKET, Key=f"many/obj-{i:05d}", Body=b"x"),
                      range(1100)))
    return client


def _s3_worker(minio, tmp_path, **overrides) -> LocalWorker:
    env = minio.worker_env()
    env.update(overrides.pop("env", {}))
    args = ["--s3-endpoint", overrides.pop("endpoint", minio.endpoint), "--metadata-ttl", "1s",
            *overrides.pop("args", [])]
    return LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}", extra_args=args, env=env)


@pytest.fixture()
def s3_worker(minio, s3_data, tmp_path):
    w = _s3_worker(minio, tmp_path).start()
    yield w
    w.kill()


@pytest.fixture()
def s3fs_cached(s3_worker, minio):
    return EpochCacheFileSystem(target_protocol="s3", target_options=minio.s3fs_options(),
                                worker_hosts=[s3_worker.address], metadata_ttl=1.0,
                                skip_instance_cache=True)


def _direct_s3(minio):
    import pyarrow.fs

    return pyarrow.fs.S3FileSystem(endpoint_override=minio.endpoint, scheme="http",
                                   access_key=minio.access_key, secret_key=minio.secret_key,
                                   region="us-east-1")


def _sorted(df: pd.DataFrame, by: str) -> pd.DataFrame:
    return df.sort_values(by).reset_index(drop=True)


def test_ray_parquet_and_images_match_direct_s3_and_warm_epochs_fetch_nothing(
    ray_session, minio, s3fs_cached, s3_worker
):
    ray = ray_session
    url = f"s3://{BUCKET}/parquet"
    # pyarrow's own S3 filesystem takes scheme-less "bucket/key" paths.
    direct = _sorted(ray.data.read_parquet(f"{BUCKET}/parquet", filesystem=_direct_s3(minio))
                     .to_pandas(), "id")
    first = _sorted(ray.data.read_parquet(url, filesystem=s3fs_cached).to_pandas(), "id")
    pd.testing.assert_frame_equal(direct, first)

    images_url = f"s3://{BUCKET}/images"
    direct_images = {r["path"].rsplit("/", 1)[-1]: r["image"] for r in ray.data.read_images(
        f"{BUCKET}/images", filesystem=_direct_s3(minio), include_paths=True, mode="RGB").take_all()}
    cached_images = ray.data.read_images(images_url, filesystem=s3fs_cached, include_paths=True,
                                         mode="RGB").take_all()
    assert len(cached_images) == len(direct_images) == 24
    for row in cached_images:
        assert (row["image"] == direct_images[row["path"].rsplit("/", 1)[-1]]).all()

    fetched = s3_worker.stats()["under_store_bytes"]
    assert fetched > 0
    for _ in range(2):
        again = _sorted(ray.data.read_parquet(url, filesystem=s3fs_cached).to_pandas(), "id")
        pd.testing.assert_frame_equal(direct, again)
        ray.data.read_images(images_url, filesystem=s3fs_cached, mode="RGB").take_all()
    assert s3_worker.stats()["under_store_bytes"] == fetched


def test_listing_more_than_a_thousand_objects_returns_all(s3fs_cached):
    names = s3fs_cached.ls(f"s3://{BUCKET}/many", detail=False)
    assert len(names) == 1100
    assert len(set(names)) == 1100
    assert len(s3fs_cached.find(f"{BUCKET}/many")) == 1100


def test_awkward_keys_round_trip(s3fs_cached):
    for key in ["odd/a b+c%d.txt", "odd/d\u00e9j\u00e0 vu.txt", "odd/deep/x/y/z/w.txt"]:
        assert s3fs_cached.cat_file(f"s3://{BUCKET}/{key}") == key.encode()
        assert s3fs_cached.cat_file(f"{BUCKET}/{key}") == key.encode()
    assert s3fs_cached.isdir(f"{BUCKET}/odd/deep/x")
    assert s3fs_cached.info(f"s3://{BUCKET}/odd/a b+c%d.txt")["size"] == len("odd/a b+c%d.txt")


def test_overwritten_object_is_never_served_stale(s3fs_cached, s3_data):
    key = "mutable/value.bin"
    s3_data.put_object(Bucket=BUCKET, Key=key, Body=b"version one")
    path = f"s3://{BUCKET}/{key}"
    assert s3fs_cached.cat_file(path) == b"version one"
    s3_data.put_object(Bucket=BUCKET, Key=key, Body=b"version two, longer")
    time.sleep(2.5)  # past the metadata TTL of worker and client (1 s each)
    read_until_new(lambda: s3fs_cached.cat_file(path), b"version one", b"version two, longer")


def test_missing_bucket_and_key_raise_file_not_found(s3fs_cached):
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        s3fs_cached.cat_file(f"s3://{BUCKET}/parquet/nope.parquet")
    with pytest.raises((FileNotFoundError, PermissionError)):
        s3fs_cached.info("s3://no-such-bucket/x")


def test_bad_credentials_raise_permission_error_without_the_secret(minio, s3_data, tmp_path):
    secret = "definitely-wrong-secret-value"
    w = _s3_worker(minio, tmp_path, env={"AWS_SECRET_ACCESS_KEY": secret}).start()
    try:
        fs = EpochCacheFileSystem(target_protocol="s3", worker_hosts=[w.address],
                                  skip_instance_cache=True)
        with pytest.raises(PermissionError) as info:
            fs.cat_file(f"s3://{BUCKET}/odd/deep/x/y/z/w.txt")
        assert f"s3://{BUCKET}/odd/deep/x/y/z/w.txt" in str(info.value)
        assert secret not in str(info.value)
    finally:
        w.kill()
    assert secret not in w.log_path.read_text(errors="replace")


def test_unreachable_endpoint_fails_clearly_within_deadline(minio, s3_data, tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    w = _s3_worker(minio, tmp_path, endpoint=endpoint,
                   args=["--under-timeout", "1s", "--under-attempts", "2"]).start()
    try:
        fs = EpochCacheFileSystem(target_protocol="s3", worker_hosts=[w.address],
                                  request_timeout=20, skip_instance_cache=True)
        start = time.monotonic()
        with pytest.raises(OSError) as info:
            fs.cat_file(f"s3://{BUCKET}/odd/deep/x/y/z/w.txt")
        assert time.monotonic() - start < 15
        message = str(info.value)
        assert f"s3://{BUCKET}/odd/deep/x/y/z/w.txt" in message
        assert endpoint.removeprefix("http://") in message
        assert minio.secret_key not in message
    finally:
        w.kill()
