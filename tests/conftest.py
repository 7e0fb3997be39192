"""Shared fixtures: datasets on disk, real worker processes on 127.0.0.1, one Ray session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The test-server launchers and dataset generators are development code the wheel does not ship
# (devtools/epochcache_dev). Only devtools/ goes on the path, never python/: the tests import the
# installed epochcache, which carries the native module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))

from epochcache.local_worker import LocalWorker  # noqa: E402
from epochcache_dev.demo_data import make_image_dataset, make_parquet_dataset  # noqa: E402
from epochcache_dev.local_servers import AzuriteServer, MinioServer  # noqa: E402

# Servers built by scripts/install_test_servers.sh live in <repo>/tools/bin.
os.environ.setdefault("EPOCHCACHE_TOOLS", str(Path(__file__).resolve().parents[1] / "tools" / "bin"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A small dataset: Parquet files, images, and a secret file outside the served root."""
    base = tmp_path_factory.mktemp("under")
    root = base / "root"
    make_parquet_dataset(root / "parquet", files=4, rows_per_file=5_000, columns=6)
    make_image_dataset(root / "images", count=24, size=32)
    (root / "misc").mkdir()
    (root / "misc" / "hello.txt").write_bytes(b"hello, epochcache\n")
    (root / "misc" / "big.bin").write_bytes(os.urandom(5 * (1 << 20) + 12345))
    (base / "secret.txt").write_text("outside the root")
    return root


@pytest.fixture()
def worker(data_root, tmp_path):
    """A fresh worker (empty cache) over data_root."""
    w = LocalWorker(tmp_path / "cache", under=f"file://{data_root}", capacity="1GiB")
    w.start()
    yield w
    w.kill()


@pytest.fixture()
def fs(worker):
    from epochcache import EpochCacheFileSystem

    return EpochCacheFileSystem(target_protocol="file", worker_hosts=[worker.address],
                                skip_instance_cache=True)


@pytest.fixture(scope="session")
def ray_session():
    import ray

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def minio(tmp_path_factory):
    """A real MinIO server on 127.0.0.1 with a fresh data dir."""
    server = MinioServer(tmp_path_factory.mktemp("minio") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """A real Azurite blob service on 127.0.0.1 with a fresh data dir."""
    server = AzuriteServer(tmp_path_factory.mktemp("azurite") / "data").start()
    yield server
    server.stop()
