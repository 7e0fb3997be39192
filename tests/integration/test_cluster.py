"""Cluster mode with real processes on 127.0.0.1: three workers (and etcd, where the worker can
register in it), Ray Data reading through them, striping of large files, and reads that survive
a worker killed with SIGKILL, a worker restarting with its cache, and etcd going away."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from epochcache import EpochCacheFileSystem
from epochcache.cluster import EtcdServer
from epochcache.local_worker import LocalWorker
from epochcache_dev.demo_data import make_parquet_dataset
from epochcache_dev.local_servers import free_port

pytestmark = pytest.mark.timeout(300)  # each test, with pytest-timeout

# Short breaker periods so that a restarted worker is probed again within the test.
FAST_BREAKER = dict(breaker_backoff=0.2, breaker_max_backoff=1.0)


# ------------------------------------------------------------------------------------------------
# Servers.


def _etcd_flags(etcd: EtcdServer, cluster: str) -> list[str]:
    """Worker flags to register in `etcd`; a short lease so a killed worker leaves within seconds."""
    return ["--etcd", etcd.endpoint, "--cluster", cluster, "--lease-ttl", "3s"]


class Cluster:
    """N workers over one under-store root, each with its own cache dir."""

    def __init__(self, base: Path, under: Path, n: int = 3, extra_args=None) -> None:
        self.workers = [
            LocalWorker(base / f"cache{i}", under=f"file://{under}", capacity="1GiB",
                        extra_args=list(extra_args or []))
            for i in range(n)
        ]

    def start(self) -> "Cluster":
        for w in self.workers:
            w.start()
        return self

    @property
    def addresses(self) -> list[str]:
        return [w.address for w in self.workers]

    def stats(self) -> list[dict]:
        return [w.stats() if w.running else {} for w in self.workers]

    def total(self, key: str) -> int:
        return sum(s.get(key, 0) for s in self.stats())

    def by_address(self, address: str) -> LocalWorker:
        return next(w for w in self.workers if w.running and w.address == address)

    def stop(self) -> None:
        for w in self.workers:
            w.kill()


@pytest.fixture()
def cluster(data_root, tmp_path):
    c = Cluster(tmp_path, data_root).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def large_root(tmp_path_factory) -> Path:
    """A dataset with a file of 12 default blocks, and enough Parquet for a long epoch."""
    root = tmp_path_factory.mktemp("cluster_under")
    (root / "large").mkdir()
    (root / "large" / "large.bin").write_bytes(os.urandom(48 << 20))
    make_parquet_dataset(root / "parquet", files=12, rows_per_file=20_000, columns=6, seed=3)
    return root


@pytest.fixture()
def large_cluster(large_root, tmp_path):
    c = Cluster(tmp_path, large_root).start()
    yield c
    c.stop()


def _etcd_fs(etcd_hosts: str, **options) -> EpochCacheFileSystem:
    """A filesystem that finds its workers in etcd (cluster "test"), once it sees all three."""
    fs = EpochCacheFileSystem(etcd_hosts=etcd_hosts, cluster="test", skip_instance_cache=True,
                              **FAST_BREAKER, **options)
    _wait_for(lambda: len(fs.worker_hosts) == 3, 20, "three registered workers")
    return fs


def _fs(hosts=None, **options) -> EpochCacheFileSystem:
    return EpochCacheFileSystem(target_protocol="file", worker_hosts=hosts,
                                skip_instance_cache=True, request_timeout=20.0,
                                connect_timeout=2.0, **options)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("id").reset_index(drop=True)


def _read_parquet(ray, root: Path, fs=None) -> pd.DataFrame:
    return _sorted(ray.data.read_parquet(str(root), filesystem=fs).to_pandas())


def _read_parquet_files(root: Path, fs, after_first=None) -> pd.DataFrame:
    """Reads every Parquet file under `root` one by one through `fs` (in this process), calling
    `after_first` once the first file is read: a point in the middle of the epoch."""
    tables = []
    for i, path in enumerate(sorted(root.glob("*.parquet"))):
        tables.append(pq.read_table(str(path), filesystem=fs).to_pandas())
        if i == 0 and after_first is not None:
            after_first()
    return _sorted(pd.concat(tables))


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stream_epoch(ray, root: Path, fs, after_first_batch) -> pd.DataFrame:
    """Streams an epoch of the Parquet under `root` through Ray, calling `after_first_batch` once
    the first batch is in: something breaking while Ray is in the middle of an epoch."""
    ds = ray.data.read_parquet(str(root), filesystem=fs)
    frames = []
    for i, batch in enumerate(ds.iter_batches(batch_size=5_000, batch_format="pandas")):
        frames.append(batch)
        if i == 0:
            after_first_batch()
    return _sorted(pd.concat(frames))


# ------------------------------------------------------------------------------------------------
# Static worker lists.


def test_ray_multi_epoch_matches_direct_and_second_epoch_is_all_cache(ray_session, data_root,
                                                                      cluster):
    fs = _fs(cluster.addresses)
    direct = _read_parquet(ray_session, data_root / "parquet")
    first = _read_parquet(ray_session, data_root / "parquet", fs)
    pd.testing.assert_frame_equal(direct, first)
    fetched = cluster.total("under_store_bytes")
    assert fetched > 0
    second = _read_parquet(ray_session, data_root / "parquet", fs)
    pd.testing.assert_frame_equal(direct, second)
    assert cluster.total("under_store_bytes") == fetched  # epoch 2: nothing from the under store
    # Each file was read from the worker that owns it (its one block), and from no other: the
    # owners depend on the workers' random ports, so they are asked, not assumed.
    owners = {fs._client.locate(str(p), 0, 1)[0] for p in (data_root / "parquet").glob("*.parquet")}
    served = {w.address for w in cluster.workers if w.stats().get("bytes_served", 0) > 0}
    assert served == owners


def test_large_file_is_served_by_several_workers(large_root, large_cluster):
    fs = _fs(large_cluster.addresses)
    path = large_root / "large" / "large.bin"
    assert fs.cat_file(str(path)) == path.read_bytes()
    served = {w.address: w.stats()["bytes_served"] for w in large_cluster.workers}
    assert sum(1 for v in served.values() if v > 0) >= 2, served
    # Each worker served exactly the blocks it owns (4 MiB each; nothing failed over).
    owners = [fs._client.locate(str(path), block, 1)[0] for block in range(12)]
    for address, n in served.items():
        assert n == owners.count(address) * (4 << 20), (address, n, owners)
    assert fs.client_stats()["failovers"] == 0


def test_kill_worker_mid_epoch_then_restart_with_cache(large_root, large_cluster):
    root = large_root / "parquet"
    direct = _read_parquet_files(root, None)
    fs = _fs(large_cluster.addresses, **FAST_BREAKER)
    # Epoch 1 warms all three caches.
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
    warm = [s["under_store_bytes"] for s in large_cluster.stats()]
    assert sum(1 for b in warm if b > 0) >= 2

    # Epoch 2: the owner of the most bytes is killed after the first file.
    victim = max(large_cluster.workers, key=lambda w: w.stats()["bytes_served"])
    victim_port = victim.port
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs, after_first=victim.kill))
    stats = fs.client_stats()
    assert stats["failovers"] > 0 and stats["breaker_opens"] >= 1
    assert stats["direct_reads"] == 0  # two workers were left to read through
    # Epoch 3 with the worker still dead.
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))

    # It comes back on the same port with the same cache dir: its keys return to it, and its
    # cache is intact, so it fetches nothing from the under store.
    victim.start(port=victim_port)
    # Its breaker lets a probe through once the backoff has passed: read epochs until one
    # reaches it (each must still be right).
    def epoch_reaches_victim() -> bool:
        pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
        return victim.stats()["bytes_served"] > 0

    _wait_for(epoch_reaches_victim, 30, "a read to reach the restarted worker")
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
    back = victim.stats()
    assert back["bytes_served"] > 0
    assert back["under_store_bytes"] == 0


def test_ray_epoch_survives_kill_9_and_next_epoch_completes(ray_session, large_root,
                                                           large_cluster):
    root = large_root / "parquet"
    fs = _fs(large_cluster.addresses, **FAST_BREAKER)
    direct = _read_parquet(ray_session, root)
    pd.testing.assert_frame_equal(direct, _read_parquet(ray_session, root, fs))
    victim = large_cluster.workers[1]
    # Kill it while Ray is in the middle of streaming the next epoch.
    pd.testing.assert_frame_equal(direct, _stream_epoch(ray_session, root, fs, victim.kill))
    pd.testing.assert_frame_equal(direct, _read_parquet(ray_session, root, fs))


def test_every_worker_dead_reads_the_under_store(data_root, cluster):
    fs = _fs(cluster.addresses, **FAST_BREAKER)
    path = data_root / "misc" / "big.bin"
    want = path.read_bytes()
    assert fs.cat_file(str(path), 1000, 3_000_000) == want[1000:3_000_000]
    cluster.stop()
    start = time.monotonic()
    assert fs.cat_file(str(path)) == want
    assert fs.info(str(path))["size"] == len(want)
    assert sorted(fs.ls(str(data_root / "misc"), detail=False)) == sorted(
        str(p) for p in (data_root / "misc").iterdir())
    assert time.monotonic() - start < 15
    stats = fs.client_stats()
    assert stats["direct_reads"] > 0 and stats["direct_read_bytes"] >= len(want)
    # Without the fallback, the error names the workers.
    strict = _fs(cluster_hosts := [f"127.0.0.1:{free_port()}"], direct_fallback=False)
    with pytest.raises(ConnectionError, match=cluster_hosts[0]):
        strict.cat_file(str(path), 0, 10)


# ------------------------------------------------------------------------------------------------
# etcd: discovery, membership changes, etcd going away.


@pytest.fixture()
def etcd(tmp_path):
    server = EtcdServer(tmp_path / "etcd").start()
    yield server
    server.stop()


@pytest.fixture()
def etcd_cluster(etcd, large_root, tmp_path):
    c = Cluster(tmp_path, large_root, extra_args=_etcd_flags(etcd, "test"))
    c.start()
    yield c
    c.stop()


def test_etcd_discovery_and_membership_changes(etcd, etcd_cluster, large_root):
    fs = _etcd_fs(f"127.0.0.1:{free_port()},{etcd.endpoint}")
    assert sorted(fs.worker_hosts) == sorted(etcd_cluster.addresses)
    assert all(w["id"] and w["start_time_ms"] > 0 for w in fs.workers())
    path = large_root / "large" / "large.bin"
    want = path.read_bytes()
    assert fs.cat_file(str(path)) == want
    assert sum(1 for s in etcd_cluster.stats() if s.get("bytes_served", 0) > 0) >= 2
    # A cleanly stopped worker leaves at once; its blocks move to the others.
    leaving = etcd_cluster.workers[0]
    leaving.stop()
    _wait_for(lambda: len(fs.worker_hosts) == 2, 20, "the stopped worker to leave")
    assert fs.cat_file(str(path)) == want
    assert fs.client_stats()["placement_rebuilds"] >= 1


def test_etcd_worker_killed_then_back_on_another_port_keeps_its_keys(etcd, etcd_cluster,
                                                                    large_root):
    root = large_root / "parquet"
    direct = _read_parquet_files(root, None)
    fs = _etcd_fs(etcd.endpoint, request_timeout=20.0)
    ids = {w["address"]: w["id"] for w in fs.workers()}
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
    victim = max(etcd_cluster.workers, key=lambda w: w.stats()["bytes_served"])
    victim_id = ids[victim.address]
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs, after_first=victim.kill))
    assert fs.client_stats()["failovers"] > 0
    # Its lease expires and it leaves the view; reads go on from the other two.
    _wait_for(lambda: len(fs.worker_hosts) == 2, 60, "the killed worker's lease to expire")
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
    # Back with the same cache dir (so the same id) on a new port: same keys, warm cache.
    victim.start(port=0)
    _wait_for(lambda: len(fs.worker_hosts) == 3, 30, "the worker to register again")
    assert {w["id"]: w["address"] for w in fs.workers()}[victim_id] == victim.address
    pd.testing.assert_frame_equal(direct, _read_parquet_files(root, fs))
    back = victim.stats()
    assert back["bytes_served"] > 0
    assert back["under_store_bytes"] == 0


def test_etcd_stopped_mid_epoch_reads_continue(ray_session, etcd, etcd_cluster, large_root):
    root = large_root / "parquet"
    fs = _etcd_fs(etcd.endpoint)
    direct = _read_parquet(ray_session, root)
    pd.testing.assert_frame_equal(direct, _read_parquet(ray_session, root, fs))
    fetched = etcd_cluster.total("under_store_bytes")
    pd.testing.assert_frame_equal(direct, _stream_epoch(ray_session, root, fs, etcd.stop))
    # The next epoch, with etcd still down, is served from the warm caches.
    pd.testing.assert_frame_equal(direct, _read_parquet(ray_session, root, fs))
    assert etcd_cluster.total("under_store_bytes") == fetched


def test_etcd_unreachable_at_start_is_a_clear_error():
    with pytest.raises(ConnectionError, match="etcd"):
        EpochCacheFileSystem(etcd_hosts=f"127.0.0.1:{free_port()}", skip_instance_cache=True)

