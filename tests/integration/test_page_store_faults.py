"""The page store under pressure, through a real worker process: crashes while caching, bit
flips on disk, a stampede of cold readers, and a cache dir that disappears while serving."""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

MiB = 1 << 20


@pytest.fixture(scope="module")
def big_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big")
    (root / "a.bin").write_bytes(os.urandom(64 * MiB))
    (root / "b.bin").write_bytes(os.urandom(24 * MiB + 777))
    (root / "c.bin").write_bytes(os.urandom(3 * MiB))
    return root


def _fs(worker: LocalWorker) -> EpochCacheFileSystem:
    return EpochCacheFileSystem(worker_hosts=[worker.address], skip_instance_cache=True)


def _page_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "pages").rglob("*") if p.is_file() and ".tmp" not in p.name)


def test_kill_9_while_caching_then_restart_refetches_nothing_committed(big_root, tmp_path):
    cache = tmp_path / "cache"
    path = str(big_root / "a.bin")
    expected = (big_root / "a.bin").read_bytes()
    worker = LocalWorker(cache, under=f"file://{big_root}").start()
    fs = _fs(worker)
    stop = threading.Event()
    failures: list[BaseException] = []

    def read_slowly() -> None:
        try:
            with fs.open(path) as f:
                for i in range(64):
                    if stop.is_set():
                        return
                    try:
                        chunk = f.read(MiB)
                    except OSError:
                        return  # the worker was killed under us
                    assert chunk == expected[i * MiB:(i + 1) * MiB]
        except BaseException as e:  # noqa: BLE001 - reported by the main thread below
            failures.append(e)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    deadline = time.monotonic() + 30
    while worker.stats()["page_store"]["puts"] < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.kill()  # SIGKILL, possibly in the middle of writing a page
    stop.set()
    reader.join(30)
    assert not reader.is_alive()
    assert not failures, f"the reader failed: {failures[0]!r}"

    restarted = LocalWorker(cache, under=f"file://{big_root}").start()
    try:
        stats = restarted.stats()["page_store"]
        recovered = stats["recovered_pages"]
        assert recovered >= 8
        assert _fs(restarted).cat_file(path) == expected  # never a partial page
        fetched = restarted.stats()["under_store_bytes"]
        assert fetched == len(expected) - recovered * MiB
    finally:
        restarted.kill()


def test_bit_flip_on_disk_is_detected_and_refetched(big_root, tmp_path):
    cache = tmp_path / "cache"
    path = str(big_root / "c.bin")
    expected = (big_root / "c.bin").read_bytes()
    worker = LocalWorker(cache, under=f"file://{big_root}").start()
    try:
        fs = _fs(worker)
        assert fs.cat_file(path) == expected
        pages = _page_files(cache)
        assert len(pages) == 3
        victim = pages[1]
        with open(victim, "r+b") as f:
            f.seek(victim.stat().st_size - 1000)  # inside the data, past the header
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))
        before = worker.stats()
        assert fs.cat_file(path) == expected
        after = worker.stats()
        assert after["page_store"]["checksum_failures"] == before["page_store"]["checksum_failures"] + 1
        assert after["under_store_bytes"] - before["under_store_bytes"] == MiB  # just that page
        assert fs.cat_file(path) == expected
    finally:
        worker.kill()


def test_64_concurrent_cold_readers_fetch_the_file_once(big_root, tmp_path):
    worker = LocalWorker(tmp_path / "cache", under=f"file://{big_root}").start()
    try:
        fs = _fs(worker)
        path = str(big_root / "a.bin")
        size = (big_root / "a.bin").stat().st_size
        digest_expected = hash((big_root / "a.bin").read_bytes())
        barrier = threading.Barrier(64, timeout=60)

        def read_all(_: int) -> int:
            out = bytearray(size)
            view = memoryview(out)
            barrier.wait()
            with fs.open(path) as f:
                got = 0
                while got < size:
                    n = f.readinto(view[got : got + 8 * MiB])
                    assert n > 0
                    got += n
            return hash(bytes(out))

        with ThreadPoolExecutor(64) as pool:
            digests = list(pool.map(read_all, range(64)))
        assert all(d == digest_expected for d in digests)
        assert worker.stats()["under_store_bytes"] == size
    finally:
        worker.kill()


def test_cache_dir_removed_while_serving_keeps_reads_working(big_root, tmp_path):
    first, second = tmp_path / "disk1", tmp_path / "disk2"
    worker = LocalWorker(first, under=f"file://{big_root}",
                         extra_args=["--cache-dir", str(second)]).start()
    try:
        fs = _fs(worker)
        b = (big_root / "b.bin").read_bytes()
        assert fs.cat_file(str(big_root / "b.bin")) == b
        assert _page_files(first) and _page_files(second), "pages should spread over both dirs"
        shutil.rmtree(second)
        for _ in range(2):
            assert fs.cat_file(str(big_root / "b.bin")) == b
            assert fs.cat_file(str(big_root / "c.bin")) == (big_root / "c.bin").read_bytes()
        dirs = {d["path"]: d for d in worker.stats()["page_store"]["dirs"]}
        assert dirs[str(second)]["healthy"] is False
        assert dirs[str(first)]["healthy"] is True
    finally:
        worker.kill()
