"""The gs:// store (GCS's XML API with HMAC keys, SigV4) through a real worker. GCS itself
cannot run here and fake-gcs-server does not serve the XML API's signed ListObjectsV2, so MinIO
stands in for the XML-API endpoint (STORAGE_EMULATOR_HOST): this checks the gs:// to bucket/key
mapping, signing with GS_HMAC_* keys, paging, and that AWS credentials are never used for gs://;
not Google's own server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

BUCKET = "gcs-train"
MANY = 1100


@pytest.fixture(scope="module")
def gs_data(minio):
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    for key in ["a/one.txt", "a/b c/two.txt", "z.bin"]:
        client.put_object(Bucket=BUCKET, Key=key, Body=key.encode() * 1000)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=BUCKET, Key=f"many/o-{i:05d}", Body=b"x"),
                      range(MANY)))
    return client


def _gs_worker(minio, tmp_path, env) -> LocalWorker:
    base = {"STORAGE_EMULATOR_HOST": minio.endpoint}
    base.update(env)
    return LocalWorker(tmp_path / "cache", under=f"gs://{BUCKET}",
                       extra_args=["--metadata-ttl", "1s"], env=base)


def _hmac_env(minio) -> dict[str, str]:
    return {"GS_HMAC_ACCESS_KEY_ID": minio.access_key, "GS_HMAC_SECRET": minio.secret_key}


def _fs(worker) -> EpochCacheFileSystem:
    return EpochCacheFileSystem(target_protocol="gs", worker_hosts=[worker.address],
                                direct_fallback=False, skip_instance_cache=True)


def test_reads_stat_and_listing_through_the_xml_api(minio, gs_data, tmp_path):
    w = _gs_worker(minio, tmp_path, _hmac_env(minio)).start()
    try:
        fs = _fs(w)
        for key in ["a/one.txt", "a/b c/two.txt", "z.bin"]:
            body = key.encode() * 1000
            assert fs.cat_file(f"gs://{BUCKET}/{key}") == body
            assert fs.cat_file(f"gcs://{BUCKET}/{key}", start=5, end=1234) == body[5:1234]
            assert fs.info(f"{BUCKET}/{key}")["size"] == len(body)
        assert fs.isdir(f"gs://{BUCKET}/a/b c")
        names = fs.ls(f"gs://{BUCKET}/many", detail=False)
        assert len(names) == MANY == len(set(names))
        assert len(fs.find(f"{BUCKET}/many")) == MANY
        with pytest.raises(FileNotFoundError, match="nope"):
            fs.cat_file(f"gs://{BUCKET}/nope")
    finally:
        w.kill()


def test_aws_credentials_are_never_sent_for_gs(minio, gs_data, tmp_path):
    # The right keys, but under AWS's names: gs:// must not use them, so the request goes
    # unsigned and the (non-public) bucket refuses it.
    env = minio.worker_env()
    w = _gs_worker(minio, tmp_path, env).start()
    try:
        with pytest.raises(PermissionError):
            _fs(w).cat_file(f"gs://{BUCKET}/z.bin")
    finally:
        w.kill()


def test_wrong_hmac_secret_is_a_permission_error_without_the_secret(minio, gs_data, tmp_path):
    secret = "definitely-wrong-gcs-hmac-secret"
    w = _gs_worker(minio, tmp_path, {"GS_HMAC_ACCESS_KEY_ID": minio.access_key,
                                     "GS_HMAC_SECRET": secret}).start()
    try:
        with pytest.raises(PermissionError) as info:
            _fs(w).cat_file(f"gs://{BUCKET}/a/one.txt")
        assert f"gs://{BUCKET}/a/one.txt" in str(info.value)
        assert "s3://" not in str(info.value)
        assert secret not in str(info.value)
    finally:
        w.kill()
    assert secret not in w.log_path.read_text(errors="replace")
