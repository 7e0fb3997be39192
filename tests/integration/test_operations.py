"""Operating a cluster with real processes on 127.0.0.1 (three workers over MinIO, registered
in etcd): `epochcache load` warms a cold dataset so that a following read pass fetches nothing
from S3 and a second load transfers nothing; `status`, `ls`, `stat`, `cat` and `evict` through
the CLI; `/metrics` parses and moves; an unknown subcommand says so; and reads that go around
dead workers are logged once, not once per read.

A read pass goes through the fsspec filesystem in this process (every byte of every file), and
test_load_then_a_ray_epoch_fetches_nothing runs a Ray Data epoch after a load."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from epochcache import EpochCacheFileSystem
from epochcache.cluster import EtcdServer
from epochcache.local_worker import LocalWorker, worker_binary
from epochcache_dev.local_servers import upload_tree

pytestmark = pytest.mark.timeout(300)

BUCKET = "ops"


@pytest.fixture(scope="module")
def s3_data(minio, data_root):
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    upload_tree(client, BUCKET, data_root / "parquet", "parquet")
    upload_tree(client, BUCKET, data_root / "misc", "misc")
    return data_root


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    server = EtcdServer(tmp_path_factory.mktemp("etcd") / "data").start()
    yield server
    server.stop()


@pytest.fixture()
def cluster_name(request) -> str:
    """A cluster of its own per test: the leases of an earlier test's workers outlive them."""
    return "ops-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40]


@pytest.fixture()
def workers(minio, s3_data, etcd, cluster_name, tmp_path):
    ws = [
        LocalWorker(tmp_path / f"cache{i}", under=f"s3://{BUCKET}", env=minio.worker_env(),
                    extra_args=["--s3-endpoint", minio.endpoint, "--etcd", etcd.endpoint,
                                "--cluster", cluster_name, "--lease-ttl", "3s"]).start()
        for i in range(3)
    ]
    yield ws
    for w in ws:
        w.kill()


@pytest.fixture()
def fs(workers, etcd, minio, cluster_name):
    fs = EpochCacheFileSystem(target_protocol="s3", target_options=minio.s3fs_options(),
                              etcd_hosts=etcd.endpoint, cluster=cluster_name,
                              skip_instance_cache=True)
    deadline = time.monotonic() + 20
    while len(fs.worker_hosts) < len(workers):
        assert time.monotonic() < deadline, "workers did not register in etcd"
        time.sleep(0.1)
    return fs


@pytest.fixture()
def cli(etcd, cluster_name):
    """Runs `epochcache ARGS... --etcd E --cluster C`."""
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _cli(etcd, cluster_name, *args, check=check)
    return run


def _cli(etcd, cluster: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([worker_binary(), *args, "--etcd", etcd.endpoint, "--cluster", cluster],
                            capture_output=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def under_store_bytes(workers) -> int:
    return sum(w.stats()["under_store_bytes"] for w in workers)


def read_everything(fs, prefix: str) -> int:
    total = 0
    for path in sorted(fs.find(prefix)):
        with fs.open(path, "rb") as f:
            total += len(f.read())
    return total


def test_load_then_read_pass_fetches_nothing_and_a_second_load_transfers_nothing(
        cli, workers, fs, s3_data):
    expected = sum(p.stat().st_size for p in (s3_data / "parquet").glob("*.parquet"))
    assert under_store_bytes(workers) == 0

    first = cli("load", f"s3://{BUCKET}/parquet")
    progress = first.stderr.decode()
    assert re.search(r"files 4/4", progress), progress
    assert "bytes" in progress and "ETA" in progress, progress
    assert under_store_bytes(workers) == expected
    # Each block was loaded by its owner (each file is one block here), whichever worker that is.
    owned = {w.address: 0 for w in workers}
    for p in (s3_data / "parquet").glob("*.parquet"):
        owned[fs._client.locate(f"s3://{BUCKET}/parquet/{p.name}", 0, 1)[0]] += p.stat().st_size
    assert {w.address: w.stats()["under_store_bytes"] for w in workers} == owned

    # A read pass over the whole dataset through the cache: nothing from S3.
    assert read_everything(fs, f"{BUCKET}/parquet") == expected
    assert under_store_bytes(workers) == expected

    # Resumable: a second load finds every block cached and transfers nothing.
    second = cli("load", f"s3://{BUCKET}/parquet")
    text = second.stderr.decode()
    assert "fetched 0 B from the under store" in text, text
    assert under_store_bytes(workers) == expected

    # status --json parses and shows what is cached.
    status = json.loads(cli("status", "--json").stdout)
    assert len(status) == 3 and all(w["up"] for w in status)
    assert sum(w["used_bytes"] for w in status) >= expected
    assert sum(w["under_store_bytes"] for w in status) == expected
    assert all(w["version"] == fs_version() for w in status)
    table = cli("status").stdout.decode()
    assert table.count(" up ") == 3, table


def test_load_then_a_ray_epoch_fetches_nothing(ray_session, cli, workers, fs, s3_data):
    """The acceptance with Ray Data: after `epochcache load`, an epoch of read_parquet through
    the cache reads no byte from S3 (Ray's workers place reads as the loader did)."""
    import pyarrow.parquet as pq

    cli("load", f"s3://{BUCKET}/parquet")
    loaded = under_store_bytes(workers)
    assert loaded > 0
    # Every column of every row, not just the footers' row counts.
    epoch = ray_session.data.read_parquet(f"s3://{BUCKET}/parquet", filesystem=fs).to_pandas()
    direct = pd.concat(pq.read_table(p).to_pandas()
                       for p in sorted((s3_data / "parquet").glob("*.parquet")))
    pd.testing.assert_frame_equal(epoch.sort_values("id").reset_index(drop=True),
                                  direct.sort_values("id").reset_index(drop=True),
                                  check_dtype=False)  # Ray's pyarrow-backed dtypes
    assert under_store_bytes(workers) == loaded


def fs_version() -> str:
    import epochcache._native as native

    return native.__version__


def test_dry_run_plans_without_loading(cli, workers, fs, s3_data):
    result = cli("load", "--dry-run", f"s3://{BUCKET}/parquet")
    out = result.stdout.decode()
    assert "plan: 4 files" in out, out
    # One line per worker that owns a block (each file is one block here).
    planned = {line.split()[0].rstrip(":") for line in out.splitlines()
               if line.startswith("  127.0.0.1:")}
    owners = {fs._client.locate(f"s3://{BUCKET}/parquet/{p.name}", 0, 1)[0]
              for p in (s3_data / "parquet").glob("*.parquet")}
    assert planned == owners, out
    assert under_store_bytes(workers) == 0


def test_python_load_warms_the_cache(fs, workers, capsys):
    seen = []
    result = fs.load(f"{BUCKET}/parquet", progress=seen.append)
    assert result["files_total"] == 4 and result["failures"] == []
    assert result["bytes_fetched"] == result["bytes_total"] > 0
    assert seen and seen[-1]["blocks_done"] == result["blocks_total"]
    again = fs.load([f"{BUCKET}/parquet"], progress=True)
    assert again["bytes_fetched"] == 0
    assert again["blocks_skipped"] == again["blocks_total"]
    assert "files 4/4" in capsys.readouterr().err


def test_ls_stat_cat_through_the_cache(cli, workers, s3_data):
    listing = cli("ls", f"s3://{BUCKET}/misc").stdout.decode()
    assert "hello.txt" in listing and "big.bin" in listing
    stat = json.loads(cli("stat", "--json", f"s3://{BUCKET}/misc/hello.txt").stdout)
    assert stat["size"] == len(b"hello, epochcache\n") and stat["type"] == "file"
    big = cli("cat", f"s3://{BUCKET}/misc/big.bin").stdout
    assert big == (s3_data / "misc" / "big.bin").read_bytes()
    missing = cli("stat", f"s3://{BUCKET}/misc/nope", check=False)
    assert missing.returncode != 0 and b"misc/nope" in missing.stderr, missing.stderr


def test_evict_makes_the_next_read_fetch_exactly_once(cli, workers, fs, s3_data):
    path = f"{BUCKET}/misc/big.bin"
    size = (s3_data / "misc" / "big.bin").stat().st_size
    fs.cat_file(path)
    before = under_store_bytes(workers)
    assert before == size
    fs.cat_file(path)
    assert under_store_bytes(workers) == before  # cached

    out = cli("evict", f"s3://{BUCKET}/misc/big.bin").stdout.decode()
    assert re.search(r"evicted [1-9]\d* pages", out), out
    # Evicting again is harmless: nothing is left.
    assert "evicted 0 pages" in cli("evict", f"s3://{BUCKET}/misc/big.bin").stdout.decode()
    assert under_store_bytes(workers) == before
    fs.cat_file(path)
    fs.cat_file(path)
    assert under_store_bytes(workers) == before + size  # fetched again, once


# A sample line of the text exposition: name, optional {labels}, value.
_SAMPLE = re.compile(r'^(epochcache_[a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                     r'(-?[0-9.e+-]+|\+Inf|NaN)$')


def scrape(worker: LocalWorker) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{worker.address}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or line.startswith(("# HELP ", "# TYPE ")), line
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
    # Prometheus' own parser reads the same samples (with their HELP and TYPE) from the text.
    from prometheus_client.parser import text_string_to_metric_families

    parsed = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, f"{family.name} has no HELP"
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            parsed[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    assert parsed == samples
    return samples


def test_metrics_parse_and_move_as_we_read(workers, fs, s3_data):
    before = [scrape(w) for w in workers]
    assert all(s[f'epochcache_build_info{{version="{fs_version()}"}}'] == 1 for s in before)
    total = read_everything(fs, f"{BUCKET}/misc")
    after = [scrape(w) for w in workers]

    def total_of(samples, name):
        return sum(s.get(name, 0) for s in samples)

    assert total_of(after, "epochcache_bytes_served_total") - \
        total_of(before, "epochcache_bytes_served_total") == total
    assert total_of(after, "epochcache_under_store_bytes_total") == total
    reads = 'epochcache_requests_total{endpoint="/v1/read",result="2xx"}'
    assert total_of(after, reads) > total_of(before, reads)
    assert total_of(after, 'epochcache_request_duration_seconds_count{endpoint="/v1/read",result="2xx"}') \
        == total_of(after, reads)
    assert total_of(after, "epochcache_page_misses_total") > 0
    assert any(k.startswith("epochcache_cache_dir_used_bytes{dir=") and v > 0
               for s in after for k, v in s.items())


def test_metrics_need_the_token(s3_data, minio, tmp_path):
    token = tmp_path / "token"
    token.write_text("metrics-token-123\n")
    w = LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}", env=minio.worker_env(),
                    extra_args=["--s3-endpoint", minio.endpoint], auth_token_file=token).start()
    try:
        for method, path in [("GET", "/metrics"), ("POST", "/v1/load?path=s3://ops/misc/hello.txt"),
                             ("POST", "/v1/evict?path=s3://ops/misc/hello.txt")]:
            request = urllib.request.Request(f"http://{w.address}{path}", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
        request = urllib.request.Request(f"http://{w.address}/metrics",
                                         headers={"Authorization": "Bearer metrics-token-123"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert b"epochcache_requests_total" in resp.read()
    finally:
        w.kill()


def test_unknown_subcommand_and_version():
    bad = subprocess.run([worker_binary(), "lod", "x"], capture_output=True, timeout=30)
    assert bad.returncode != 0
    message = bad.stderr.decode()
    assert "unknown subcommand 'lod'" in message
    assert "load" in message and "status" in message
    version = subprocess.run([worker_binary(), "--version"], capture_output=True, timeout=30)
    assert version.returncode == 0
    assert fs_version() in version.stdout.decode()


def test_every_worker_dead_reads_directly_and_warns_once(workers, fs, s3_data, caplog):
    for w in workers:
        w.kill()
    caplog.set_level(logging.WARNING, logger="epochcache")
    for _ in range(3):
        assert fs.cat_file(f"{BUCKET}/misc/hello.txt") == b"hello, epochcache\n"
        assert len(fs.cat_file(f"{BUCKET}/misc/big.bin")) == (s3_data / "misc" / "big.bin").stat().st_size
    assert fs.client_stats()["direct_reads"] >= 6
    warnings = [r for r in caplog.records if r.name == "epochcache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "directly from the under store" in message
    assert all(w.address in message for w in workers), message
    assert "Connection refused" in message, message  # the reason, as a worker answers now
