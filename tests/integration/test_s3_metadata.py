"""Metadata without a round trip per file, against a real MinIO and a real worker: statuses
learned from a listing serve later reads (no HEAD), stale statuses are refreshed in the
background by one listing per directory, an overwrite is still seen within the documented bound
(--metadata-ttl plus one refresh), and a listing-learned status of a changed object never
yields its old bytes on a miss."""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

BUCKET = "metadata"
DIRS = ("d1", "d2")
FILES_PER_DIR = 12
TTL_S = 2.0


def _body(d: str, i: int) -> bytes:
    return f"{d}/f-{i:03d} ".encode() * (50 + i)


@pytest.fixture(scope="module")
def meta_bucket(minio):
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    for d in DIRS:
        for i in range(FILES_PER_DIR):
            client.put_object(Bucket=BUCKET, Key=f"{d}/f-{i:03d}", Body=_body(d, i))
    return client


@pytest.fixture()
def meta_worker(minio, meta_bucket, tmp_path):
    args = ["--s3-endpoint", minio.endpoint, "--metadata-ttl", f"{TTL_S}s",
            "--metadata-max-stale", "60s"]
    w = LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}", extra_args=args,
                    env=minio.worker_env()).start()
    yield w
    w.kill()


def _get(worker: LocalWorker, endpoint: str, **params) -> tuple[int, bytes]:
    url = f"http://{worker.address}{endpoint}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _under_requests(worker: LocalWorker) -> dict[str, float]:
    status, body = _get(worker, "/metrics")
    assert status == 200
    found = dict(re.findall(
        r'^epochcache_under_store_requests_total\{kind="(\w+)"\} (\S+)$', body.decode(), re.M))
    assert set(found) == {"stat", "list", "read"}, body.decode()[:2000]
    return {k: float(v) for k, v in found.items()}


def _endpoint_requests(worker: LocalWorker, endpoint: str) -> float:
    status, body = _get(worker, "/metrics")
    assert status == 200
    pattern = rf'^epochcache_requests_total\{{[^}}]*endpoint="{re.escape(endpoint)}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, body.decode(), re.M))


def _list_all(worker: LocalWorker) -> dict[str, dict]:
    entries = {}
    for d in DIRS:
        status, body = _get(worker, "/v1/list", path=f"s3://{BUCKET}/{d}")
        assert status == 200, body
        import json

        for e in json.loads(body)["entries"]:
            entries[e["path"]] = e
    return entries


def _read_all(worker: LocalWorker) -> None:
    for d in DIRS:
        for i in range(FILES_PER_DIR):
            status, body = _get(worker, "/v1/read", path=f"s3://{BUCKET}/{d}/f-{i:03d}")
            assert status == 200, body
            assert body == _body(d, i)


def _settle(worker: LocalWorker) -> dict[str, float]:
    """The request counts once background refreshes have stopped moving them (bounded)."""
    last = _under_requests(worker)
    for _ in range(50):
        time.sleep(0.1)
        now = _under_requests(worker)
        if now == last:
            return now
        last = now
    return last


def test_warm_epochs_past_the_ttl_make_no_per_file_request(meta_worker):
    w = meta_worker
    listed = _list_all(w)
    assert len(listed) == len(DIRS) * FILES_PER_DIR
    _read_all(w)  # the cold pass: reads, but no stat (the listing gave every status)
    counts = [_settle(w)]
    assert counts[0]["stat"] == 0
    assert counts[0]["list"] == len(DIRS)
    assert counts[0]["read"] >= len(DIRS) * FILES_PER_DIR
    for _ in range(2):  # two warm passes, each past the soft TTL
        time.sleep(TTL_S + 0.5)
        _read_all(w)
        counts.append(_settle(w))
    print("under-store requests after list+cold pass, warm pass 1, warm pass 2:", counts)
    for before, after in zip(counts, counts[1:]):
        assert after["stat"] == 0
        assert after["read"] == before["read"]  # every byte from the page store
        assert after["list"] - before["list"] <= len(DIRS)  # one listing per directory at most


def test_listed_version_equals_the_head_version(meta_worker, minio, tmp_path):
    listed = _list_all(meta_worker)
    # A second worker learns the same statuses by HEAD (it never listed).
    other = LocalWorker(tmp_path / "cache2", under=f"s3://{BUCKET}",
                        extra_args=["--s3-endpoint", minio.endpoint],
                        env=minio.worker_env()).start()
    try:
        import json

        for path, entry in listed.items():
            status, body = _get(other, "/v1/stat", path=path)
            assert status == 200, body
            stat = json.loads(body)
            assert stat["version"] == entry["version"], path
            assert stat["size"] == entry["size"], path
        assert _under_requests(other)["stat"] == len(listed)
    finally:
        other.kill()


def test_an_overwrite_is_seen_within_the_ttl_plus_one_refresh(meta_worker, meta_bucket):
    w = meta_worker
    key = "d1/f-001"
    path = f"s3://{BUCKET}/{key}"
    old = _body("d1", 1)
    new = b"overwritten " * 40
    _list_all(w)
    assert _get(w, "/v1/read", path=path) == (200, old)  # pages of the old version cached
    try:
        meta_bucket.put_object(Bucket=BUCKET, Key=key, Body=new)
        changed_at = time.monotonic()
        seen = None
        while time.monotonic() - changed_at < TTL_S + 10:
            status, body = _get(w, "/v1/read", path=path)
            assert status == 200
            assert body in (old, new)  # never a mix of versions
            if body == new:
                seen = time.monotonic() - changed_at
                break
            time.sleep(0.05)
        print(f"overwrite seen after {seen}s (ttl {TTL_S}s)")
        assert seen is not None
        # The documented bound: the TTL plus one refresh (a listing of MinIO on 127.0.0.1),
        # with slack for a loaded machine.
        assert seen <= TTL_S + 3.0
        assert _under_requests(w)["stat"] == 0
    finally:
        meta_bucket.put_object(Bucket=BUCKET, Key=key, Body=old)


def test_a_listed_status_of_a_changed_object_never_yields_old_bytes_on_a_miss(
    meta_worker, meta_bucket
):
    w = meta_worker
    key = "d2/f-005"
    path = f"s3://{BUCKET}/{key}"
    old = _body("d2", 5)
    new = b"replaced after the listing " * 30
    listed = _list_all(w)
    try:
        meta_bucket.put_object(Bucket=BUCKET, Key=key, Body=new)
        # The listed (old) status is fresh, nothing of the file is cached: the miss reads S3
        # with If-Match on the listed ETag, which refuses, and the worker plans again.
        status, body = _get(w, "/v1/read", path=path)
        assert status == 200
        assert body == new
        # A reader that pinned the listed version learns that it changed: never old bytes.
        status, body = _get(w, "/v1/read", path=path, version=listed[path]["version"])
        assert status == 409, body
    finally:
        meta_bucket.put_object(Bucket=BUCKET, Key=key, Body=old)


def test_client_open_after_ls_sends_no_stat(meta_worker, minio):
    fs = EpochCacheFileSystem(target_protocol="s3", target_options=minio.s3fs_options(),
                              worker_hosts=[meta_worker.address], metadata_ttl=60.0,
                              skip_instance_cache=True)
    names = fs.ls(f"{BUCKET}/d1", detail=False)
    assert len(names) == FILES_PER_DIR
    for i, name in enumerate(sorted(names)):
        assert fs.cat(name) == _body("d1", i)
        with fs.open(name, "rb") as f:
            assert f.read() == _body("d1", i)
    assert _endpoint_requests(meta_worker, "/v1/stat") == 0
    assert _under_requests(meta_worker)["stat"] == 0
